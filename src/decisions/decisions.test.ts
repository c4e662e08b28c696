import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../../test/support/config.js';
import { FakeStore } from '../../test/support/fake-store.js';
import { buildDecisionPolicy } from '../config/policy.js';
import { MANUAL_JAIL, type Offence } from '../domain/types.js';
import { createDecisions } from './decisions.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');

function setup(wake: (hosts: string[]) => void) {
  const config = testConfig();
  const store = new FakeStore();
  const registry = new Registry();
  const metrics = {
    alerts: new Counter({
      name: 'a',
      help: 'a',
      labelNames: ['outcome', 'jail'] as const,
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: 'd',
      help: 'd',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
  };
  const policy = buildDecisionPolicy(config, { localAddresses: [], now: () => NOW });
  const errors: unknown[] = [];
  const decisions = createDecisions({
    config,
    store,
    policy,
    metrics,
    wake,
    onWakeError: (e) => errors.push(e),
  });
  return { decisions, store, registry, errors };
}

const offence = (ip: string, source: Offence['source'] = 'alertmanager'): Offence => ({
  fingerprint: `f-${ip}`,
  startsAt: NOW - 1000,
  jail: 'sshd',
  ip,
  reportedIp: ip,
  source,
  labels: { jail: 'sshd', ip },
  receivedAt: NOW,
});

describe('createDecisions', () => {
  it('records one offence, wakes the hosts the store reports, counts the outcome', async () => {
    const woken: string[][] = [];
    const { decisions, registry } = setup((hosts) => woken.push(hosts));
    const outcome = await decisions.recordOffence(offence('203.0.113.9'));
    expect(outcome).toMatchObject({ outcome: 'banned', ip: '203.0.113.9', jail: 'sshd' });
    expect(woken).toEqual([['web1', 'web2']]);
    expect(await decisions.recordOffence(offence('203.0.113.9'))).toMatchObject({ outcome: 'duplicate' });
    // A duplicate changes nothing: no second wake.
    expect(woken).toHaveLength(1);
    const text = await registry.metrics();
    expect(text).toContain('a{outcome="banned",jail="sshd"} 1');
    expect(text).toContain('a{outcome="duplicate",jail=""} 1');
    expect(text).toMatch(/d_count\{operation="recordBatch"\} 2/);
  });

  it('counts webhook alerts only: the tail has metrics of its own', async () => {
    const { decisions, registry } = setup(() => {});
    expect(await decisions.recordOffence(offence('203.0.113.10', 'loki-tail'))).toMatchObject({
      outcome: 'banned',
    });
    expect(await registry.metrics()).not.toContain('a{outcome="banned"');
  });

  it('keeps a durable answer when the wake listener throws, and reports the error', async () => {
    const { decisions, errors } = setup(() => {
      throw new Error('listener broke');
    });
    const ban = await decisions.manualBan({ ip: '198.51.100.3', jail: MANUAL_JAIL, actor: 'ops' });
    expect(ban.jail).toBe(MANUAL_JAIL);
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener broke']);
    const lifted = await decisions.unban({ ip: '198.51.100.3', actor: 'ops', now: NOW + 1 });
    expect(lifted.map((b) => b.id)).toEqual([ban.id]);
    expect(errors).toHaveLength(2);
  });

  it('offers the configured jails plus manual for manual bans', () => {
    const { decisions } = setup(() => {});
    expect(Object.keys(decisions.manualJails).sort()).toEqual(
      ['manual', 'nginx-http-auth', 'postfix-sasl', 'sshd'].sort(),
    );
  });
});
