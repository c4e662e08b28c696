import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforcementSchema } from '../src/config/schema.js';
import { MAX_BAN_SECONDS } from '../src/domain/duration.js';
import { createEnforcement, type Enforcement } from '../src/enforce/index.js';
import { MemoryOutbox } from './support/memory-outbox.js';
import { createTestHost, type TestHost } from './support/netns.js';

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const WEEK_MS = 604_800_000;

/**
 * Issue 12, item 1: a ban no firewall can hold, or one the firewall refuses, must not fail the batch
 * it shares nor any reconcile, on any host. Two namespace hosts with sshd and nftables.
 */
describe('one bad ban never poisons a host (namespace sshd + nftables)', () => {
  const hosts: TestHost[] = [];
  const store = new MemoryOutbox();
  let enforcement: Enforcement;
  const names = () => hosts.map((h) => h.config.name);
  const status = (name: string) => enforcement.status.hosts().find((s) => s.name === name)!;

  beforeAll(async () => {
    for (const name of ['web1', 'web2']) hosts.push(await createTestHost({ name }));
    enforcement = createEnforcement(
      {
        transport: 'ssh',
        hosts: hosts.map((h) => h.config),
        enforcement: enforcementSchema.parse({
          retryMin: 1,
          retryMax: 2,
          flushInterval: 1,
          reconcileInterval: 0,
        }),
      },
      store,
      pino({ level: 'silent' }),
    );
    for (const host of hosts) await enforcement.enforcer.setup(host.config);
    enforcement.start();
  });

  afterAll(async () => {
    await enforcement?.stop();
    for (const host of hosts) await host.destroy();
  });

  it('holds an over-long ban at the maximum and sets aside a ban no command can carry', async () => {
    const now = Date.now();
    for (let i = 1; i <= 20; i++) store.ban(names(), `203.0.113.${i}`, 'sshd', now + 600_000);
    // Written before durations were capped: 999999 weeks.
    store.ban(names(), '198.51.100.9', 'sshd', now + 999_999 * WEEK_MS);
    // An entry no firewall command may carry (a /4 would cut the host off half the internet).
    store.ban(names(), '16.0.0.0/4', 'manual', now + 600_000);
    enforcement.notify(names());
    await until(() => hosts.every((h) => h.list().length === 21), 15_000);
    for (const host of hosts) {
      const long = host.list().find((e) => e.ip === '198.51.100.9')!;
      // nft reports the remaining time; the element was written with the maximum ban.
      expect(long.timeoutSeconds).toBeGreaterThan(MAX_BAN_SECONDS - 60);
      expect(long.timeoutSeconds).toBeLessThanOrEqual(MAX_BAN_SECONDS);
      await until(() => status(host.config.name).setAside.count === 1, 5000);
      expect(status(host.config.name)).toMatchObject({
        state: 'up',
        lastError: null,
        setAside: { count: 1, examples: [{ ip: '16.0.0.0/4', reason: expect.stringMatching(/too wide/) }] },
      });
    }
    const aside = store.rows.filter((r) => r.ip === '16.0.0.0/4');
    // The start-up reconcile may list it before the dispatcher reaches its rows.
    await until(() => aside.every((r) => r.state === 'failed'), 5000);
    expect(aside[0]!.lastError).toMatch(/^set aside: refusing "16\.0\.0\.0\/4": prefix \/4 is too wide/);
    // Retried much later, so it never rides in the next batches.
    expect(aside[0]!.nextAttemptAt).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(store.rows.filter((r) => r.ip !== '16.0.0.0/4').every((r) => r.state === 'applied')).toBe(true);

    const reports = await enforcement.reconcile();
    expect(reports.map((r) => r.skipped)).toEqual([undefined, undefined]);
    expect(enforcement.status.hosts().map((s) => s.state)).toEqual(['up', 'up']);
  });

  it('finds the element the firewall refuses and applies the rest of its batch', async () => {
    const web1 = hosts[0]!;
    // An overlapping interval added by hand: nft refuses the /16 that would overlap it.
    web1.nft(['add', 'element', 'inet', 'lokiban', 'banned4net', '{ 198.18.0.0/24 timeout 1h }']);
    const now = Date.now();
    store.ban(['web1'], '198.18.0.0/16', 'manual', now + 600_000);
    for (let i = 1; i <= 30; i++) store.ban(['web1'], `192.0.2.${i}`, 'sshd', now + 600_000);
    enforcement.notify(['web1']);
    await until(() => web1.list().filter((e) => e.ip.startsWith('192.0.2.')).length === 30, 15_000);
    await until(() => status('web1').setAside.count === 2, 5000);
    expect(status('web1').state).toBe('up');
    expect(status('web1').setAside.examples.find((e) => e.ip === '198.18.0.0/16')?.reason).toMatch(
      /^refused by the firewall: host "web1": nft exited with 1/,
    );
    const refused = store.rows.find((r) => r.ip === '198.18.0.0/16')!;
    expect(refused).toMatchObject({ state: 'failed' });
    expect(store.rows.filter((r) => r.ip.startsWith('192.0.2.')).every((r) => r.state === 'applied')).toBe(
      true,
    );
    // The reconciler, which sees the whole set, replaces the stray /24 with the wanted /16.
    const report = (await enforcement.reconcile()).find((r) => r.host === 'web1')!;
    expect(report).toMatchObject({ added: 1, removed: 1 });
    expect(report.skipped).toBeUndefined();
    expect(web1.list().map((e) => e.ip)).toContain('198.18.0.0/16');
    expect(status('web1').setAside.examples.map((e) => e.ip)).toEqual(['16.0.0.0/4']);
  });
});
