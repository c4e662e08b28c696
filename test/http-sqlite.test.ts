import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Config, parseConfig } from '../src/config/load.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import {
  auditSchema,
  banSchema,
  bansSchema,
  breakerSchema,
  hostsSchema,
  jailSchema,
  statsSchema,
  unbanResponseSchema,
  webhookResponseSchema,
} from '../src/http/api-schemas.js';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/port.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { ADMIN_TOKEN, READ_TOKEN, testConfig, testConfigYaml, WEBHOOK_TOKEN } from './support/config.js';

/**
 * The HTTP layer on the real SQLite store: what Alertmanager and an operator see end to end,
 * checked against what the database then holds.
 */
const dir = mkdtempSync(join(tmpdir(), 'lokiban-http-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixture = readFileSync(new URL('../src/http/fixtures/alertmanager-0.25.json', import.meta.url), 'utf8');
const headers = { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` };

interface Alert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  fingerprint?: string;
}

function group(alerts: Alert[]): string {
  return JSON.stringify({
    version: '4',
    receiver: 'lokiban',
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    groupKey: '{}:{alertname="SshdBruteForce"}',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    truncatedAlerts: 0,
    alerts: alerts.map((alert) => ({
      annotations: {},
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://loki:3100/graph',
      ...alert,
    })),
  });
}

let config: Config;
let store: Store;
let t: TestApp;
let clock: number;

beforeEach(async () => {
  config = testConfig({
    store: `{ sqlite: "${join(dir, `${Math.random().toString(36).slice(2)}.db`)}" }`,
    bodyLimit: 4 * 1024 * 1024,
  });
  store = await createStore(config.store);
  await store.init();
  clock = Date.parse('2026-11-27T08:00:00Z');
  const policy = buildDecisionPolicy(config, {
    localAddresses: ['127.0.0.1', '::1'],
    now: () => clock,
    random: () => 0,
  });
  t = await buildTestApp({ config, store, policy, now: () => clock });
});
afterEach(async () => {
  await t.app.close();
  await store.close();
});

const deliver = (payload: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/webhook', headers, payload });
const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, token = ADMIN_TOKEN) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });

describe('webhook → SQLite', () => {
  it('bans from an Alertmanager group, durably, and repeats are no-ops', async () => {
    const first = await deliver(fixture);
    expect(first.statusCode).toBe(200);
    expect(first.json().results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'banned',
      'banned',
      'resolved-recorded',
    ]);
    const bans = await store.listBans({ active: true }, clock);
    expect(bans.map((ban) => ban.ip).sort()).toEqual(['2001:db8:1:2::/64', '203.0.113.7']);
    const v4 = bans.find((ban) => ban.ip === '203.0.113.7')!;
    expect(v4.expiresAt).toBe(clock + 3_600_000);
    expect(v4.hosts.map((host) => host.host).sort()).toEqual(['web1', 'web2']);
    expect(t.changes).toEqual([['web1', 'web2']]);

    clock += 60_000;
    const again = await deliver(fixture);
    expect(
      again
        .json()
        .results.slice(0, 2)
        .map((r: { outcome: string }) => r.outcome),
    ).toEqual(['duplicate', 'duplicate']);
    const after = await store.getBan(v4.id);
    expect(after!.expiresAt).toBe(v4.expiresAt);
    expect(after!.offences).toBe(1);
  });

  it('racing deliveries of the same group ban once', async () => {
    const responses = await Promise.all(Array.from({ length: 8 }, () => deliver(fixture)));
    const outcomes = responses.flatMap((r) => r.json().results.map((x: { outcome: string }) => x.outcome));
    expect(outcomes.filter((o) => o === 'banned')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(14);
    expect(await store.listBans({}, clock)).toHaveLength(2);
  });

  it('ignores allowlisted, protected and invalid addresses, and says why', async () => {
    const response = await deliver(
      group([
        { status: 'firing', labels: { ip: '127.0.0.1', jail: 'sshd' }, startsAt: '2026-11-27T07:59:00Z' },
        { status: 'firing', labels: { ip: '192.0.2.10', jail: 'sshd' }, startsAt: '2026-11-27T07:59:00Z' },
        { status: 'firing', labels: { ip: '$(id)', jail: 'sshd' }, startsAt: '2026-11-27T07:59:00Z' },
        { status: 'firing', labels: { ip: '224.0.0.1', jail: 'sshd' }, startsAt: '2026-11-27T07:59:00Z' },
        { status: 'firing', labels: { alertname: 'DatasourceNoData' }, startsAt: '2026-11-27T07:59:00Z' },
      ]),
    );
    expect(response.statusCode).toBe(200);
    expect(response.json().results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'ignored-allowlisted',
      'ignored-never-ban',
      'ignored-invalid-ip',
      'ignored-never-ban',
      'ignored-no-ip',
    ]);
    expect(await store.listBans({}, clock)).toHaveLength(0);
    expect(t.changes).toHaveLength(0);
  });

  it('escalates: after an unban, the next offence bans twice as long', async () => {
    const fire = (startsAt: string) =>
      deliver(group([{ status: 'firing', labels: { ip: '198.51.100.7', jail: 'sshd' }, startsAt }]));
    const first = (await fire('2026-11-27T07:59:00Z')).json().results[0];
    expect(first).toMatchObject({ outcome: 'banned', level: 0 });
    expect((await api('POST', '/api/v1/unban', { ip: '198.51.100.7' })).json().unbanned).toHaveLength(1);

    clock += 600_000;
    // The alert resolved and fired again: a new startsAt, a new offence.
    const second = (await fire('2026-11-27T08:09:00Z')).json().results[0];
    expect(second).toMatchObject({ outcome: 'banned', level: 1 });
    const ban = await store.getBan(second.banId);
    expect(ban!.expiresAt! - ban!.createdAt).toBe(2 * 3_600_000);
  });

  it('answers a 1,000-alert group only once all of it is durable', async () => {
    const alerts: Alert[] = Array.from({ length: 1000 }, (_, i) => ({
      status: 'firing',
      labels: {
        alertname: 'SshdBruteForce',
        ip: `10.${(i >> 8) & 255}.${i & 255}.9`,
        jail: 'sshd',
        host: 'web1',
      },
      startsAt: '2026-11-27T07:59:00Z',
    }));
    // Ten.x addresses are not allowlisted by the test config; warm up once, then time a fresh group.
    await deliver(group(alerts.slice(0, 10)));
    const fresh = alerts.slice(10).map((a) => ({ ...a, startsAt: '2026-11-27T07:59:30Z' }));
    const payload = group(fresh);
    const started = performance.now();
    const response = await deliver(payload);
    const elapsed = performance.now() - started;
    expect(response.statusCode).toBe(200);
    expect(response.json().results.filter((r: { outcome: string }) => r.outcome === 'banned')).toHaveLength(
      990,
    );
    expect((await store.listBans({ active: true, limit: 100_000 }, clock)).length).toBe(1000);
    console.info(`1,000-alert group (${payload.length} bytes): ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('API → SQLite', () => {
  it('manual ban, history, jail status and unban with audit', async () => {
    const created = await api('POST', '/api/v1/bans', { ip: '203.0.113.50', jail: 'sshd', duration: '1d' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      ip: '203.0.113.50',
      source: 'manual',
      expiresAt: new Date(clock + 86_400_000).toISOString(),
    });

    const jail = (await api('GET', '/api/v1/jails/sshd', undefined, READ_TOKEN)).json();
    expect(jail).toMatchObject({ active: 1, bans: [{ ip: '203.0.113.50' }] });
    const jails = (await api('GET', '/api/v1/jails', undefined, READ_TOKEN)).json().jails;
    expect(jails.find((j: { name: string }) => j.name === 'sshd')).toMatchObject({ active: 1, total: 1 });

    const unban = await api('DELETE', '/api/v1/bans/203.0.113.50?reason=false%20positive');
    expect(unban.json().unbanned[0]).toMatchObject({ liftedBy: 'ops' });
    const history = (await api('GET', '/api/v1/bans/203.0.113.50', undefined, READ_TOKEN)).json();
    expect(history.bans).toHaveLength(1);
    expect(history.bans[0].liftedAt).toBe(new Date(clock).toISOString());
    const audit = (await api('GET', '/api/v1/audit?ip=203.0.113.50', undefined, READ_TOKEN)).json().events;
    expect(audit.map((e: { kind: string; actor: string }) => `${e.kind}:${e.actor}`)).toEqual(
      expect.arrayContaining(['unban:ops']),
    ); // Every time the API emits is ISO-8601, audit details included.
    const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    const ban = audit.find((e: { kind: string }) => e.kind === 'ban');
    expect(ban.detail.expiresAt).toBe(new Date(clock + 86_400_000).toISOString());
    const lifted = audit.find((e: { kind: string }) => e.kind === 'unban');
    expect(lifted.detail).toMatchObject({
      expiresAt: expect.stringMatching(isoTime),
      reason: 'false positive',
    });
    await api('POST', '/api/v1/bans', { ip: '203.0.113.51', jail: 'sshd', duration: '1h' });
    await api('POST', '/api/v1/bans', { ip: '203.0.113.51', jail: 'sshd', duration: '-1' });
    const extended = (await api('GET', '/api/v1/audit?ip=203.0.113.51', undefined, READ_TOKEN))
      .json()
      .events.find((e: { kind: string }) => e.kind === 'extend');
    expect(extended.detail).toMatchObject({
      previousExpiresAt: new Date(clock + 3_600_000).toISOString(),
      expiresAt: null,
    });
  });

  it('unbanning one IPv6 address lifts the /64 ban that covers it', async () => {
    const response = await deliver(
      group([
        {
          status: 'firing',
          labels: { ip: '2001:db8:5:6::77', jail: 'sshd' },
          startsAt: '2026-11-27T07:59:00Z',
        },
      ]),
    );
    expect(response.json().results[0]).toMatchObject({ outcome: 'banned', ip: '2001:db8:5:6::/64' });
    const lifted = await api('DELETE', '/api/v1/bans/2001:db8:5:6::1234');
    expect(lifted.json().unbanned.map((ban: { ip: string }) => ban.ip)).toEqual(['2001:db8:5:6::/64']);
    expect(await store.listBans({ active: true }, clock)).toHaveLength(0);
  });

  it('refuses manual bans the rules forbid with 422 and the reason', async () => {
    for (const ip of ['127.0.0.1', '192.0.2.11', '0.0.0.0/0', '10.0.0.0/8']) {
      const response = await api('POST', '/api/v1/bans', { ip, jail: 'sshd' });
      expect(response.statusCode, `${ip} ${t.logs.text.slice(-600)}`).toBe(422);
      expect(response.json().message).toMatch(/^refused \(ignored-/);
    }
    expect(await store.listBans({}, clock)).toHaveLength(0);
  });

  it('stats and metrics reflect the store', async () => {
    await deliver(fixture);
    const stats = (
      await api('GET', '/api/v1/stats?from=2026-11-27T00:00:00Z&bucket=1h', undefined, READ_TOKEN)
    ).json();
    expect(stats.perJail).toEqual([expect.objectContaining({ jail: 'sshd', bans: 2, active: 2 })]);
    expect(stats.series).toEqual([{ time: '2026-11-27T08:00:00.000Z', jail: 'sshd', bans: 2 }]);
    expect(stats.topIps[0]).toMatchObject({ bans: 1, lastBanAt: new Date(clock).toISOString() });
    const metrics = (await t.app.inject('/metrics')).body;
    expect(metrics).toContain('lokiban_active_bans{jail="sshd"} 2');
    expect((await t.app.inject('/readyz')).statusCode).toBe(200);
  });

  it('answers in the shapes the OpenAPI document declares', async () => {
    const strict = <T extends z.ZodObject>(schema: T) => schema.strict();
    webhookResponseSchema.strict().parse((await deliver(fixture)).json());
    const created = (
      await api('POST', '/api/v1/bans', { ip: '203.0.113.60', jail: 'sshd', reason: 'x' })
    ).json();
    strict(banSchema).parse(created);
    bansSchema.strict().parse((await api('GET', '/api/v1/bans')).json());
    bansSchema
      .extend({ ip: z.string() })
      .strict()
      .parse((await api('GET', '/api/v1/bans/203.0.113.60')).json());
    strict(banSchema).parse((await api('GET', `/api/v1/bans/${created.id}`)).json());
    z.object({ jails: z.array(jailSchema.strict()), breaker: breakerSchema.strict().nullable() })
      .strict()
      .parse((await api('GET', '/api/v1/jails')).json());
    jailSchema
      .extend({ bans: z.array(banSchema), now: z.string() })
      .strict()
      .parse((await api('GET', '/api/v1/jails/sshd')).json());
    hostsSchema.strict().parse((await api('GET', '/api/v1/hosts')).json());
    statsSchema
      .strict()
      .parse((await api('GET', '/api/v1/stats?from=2026-11-26T00:00:00Z&bucket=1h')).json());
    auditSchema.strict().parse((await api('GET', '/api/v1/audit')).json());
    unbanResponseSchema.strict().parse((await api('POST', '/api/v1/unban', { ip: '203.0.113.60' })).json());
    const doc = (await t.app.inject('/api/v1/openapi.json')).json();
    expect(
      doc.paths['/api/v1/bans'].get.responses['200'].content['application/json'].schema.properties,
    ).toHaveProperty('bans');
  });
});

describe('webhook → SQLite, scope origin', () => {
  it('wakes every host the store re-pends when an offence on another host extends the ban', async () => {
    const yaml = testConfigYaml({ store: `{ sqlite: "${join(dir, 'origin-wake.db')}" }` }).replace(
      'sshd: { maxretry: 5, findtime: 10m, bantime: 1h }',
      'sshd: { maxretry: 5, findtime: 10m, bantime: 1h, scope: origin }',
    );
    const originConfig = parseConfig(yaml, {});
    const originStore = await createStore(originConfig.store);
    await originStore.init();
    const policy = buildDecisionPolicy(originConfig, {
      localAddresses: ['127.0.0.1'],
      now: () => clock,
      random: () => 0,
    });
    const app = await buildTestApp({ config: originConfig, store: originStore, policy, now: () => clock });
    const seenOn = (host: string, fingerprint: string) =>
      app.app.inject({
        method: 'POST',
        url: '/api/v1/webhook',
        headers,
        payload: group([
          {
            status: 'firing',
            labels: { alertname: 'SshdBruteForce', jail: 'sshd', ip: '198.51.100.44', host },
            startsAt: new Date(clock - 1000).toISOString(),
            fingerprint,
          },
        ]),
      });
    try {
      expect((await seenOn('web1', 'aaaa000000000001')).json().results[0].outcome).toBe('banned');
      expect(app.changes).toEqual([['web1']]);
      // Ten minutes later the address attacks web2: the ban is extended, so the element on web1 now
      // carries a stale timeout and must be re-sent, and web2 gets it for the first time.
      clock += 600_000;
      expect((await seenOn('web2', 'aaaa000000000002')).json().results[0].outcome).toBe('extended');
      expect(await originStore.pendingHosts(clock)).toEqual(['web1', 'web2']);
      expect([...(app.changes.at(-1) ?? [])].sort()).toEqual(['web1', 'web2']);
    } finally {
      await app.app.close();
      await originStore.close();
    }
  });
});
