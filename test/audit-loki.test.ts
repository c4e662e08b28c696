import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLokiShipper, type LokiShipper, type LokiShipperOptions } from '../src/audit/loki-shipper.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import type { DecisionPolicy } from '../src/domain/policy.js';
import type { AuditEvent, Store } from '../src/store/port.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { testConfig } from './support/config.js';
import { type FakeLoki, startFakeLoki } from './support/fake-loki.js';

const BEARER = 'loki-bearer-0123456789abcdef';

interface Logged {
  level: 'info' | 'warn' | 'error';
  object: object;
  message: string;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(clock = { now: Date.now() }) {
  const loki = await startFakeLoki();
  cleanups.push(() => loki.close());
  const store = new SqliteStore(':memory:');
  await store.init();
  cleanups.push(() => store.close());
  const policy: DecisionPolicy = {
    ...buildDecisionPolicy(testConfig(), { localAddresses: [] }),
    now: () => clock.now,
  };
  const logs: Logged[] = [];
  const logger = {
    info: (object: object, message: string) => logs.push({ level: 'info', object, message }),
    warn: (object: object, message: string) => logs.push({ level: 'warn', object, message }),
    error: (object: object, message: string) => logs.push({ level: 'error', object, message }),
  };
  const registry = new Registry();
  const shippers: LokiShipper[] = [];
  const ship = (options: Partial<LokiShipperOptions> = {}) => {
    const shipper = createLokiShipper({
      store,
      logger,
      registry: new Registry(),
      url: loki.url,
      flushIntervalMs: 20,
      retryMinMs: 10,
      retryMaxMs: 40,
      ...options,
    });
    shippers.push(shipper);
    shipper.start();
    return shipper;
  };
  cleanups.push(async () => {
    for (const shipper of shippers) await shipper.stop();
  });
  const ban = (ip: string, reason = 'brute force') =>
    store.manualBan({ ip, jail: 'sshd', actor: 'ops', reason }, policy);
  return { loki, store, policy, logs, logger, registry, ship, ban, clock };
}

function lines(loki: FakeLoki): string[] {
  return loki.stored().map((entry) => entry.line);
}

async function metric(registry: Registry, text: string): Promise<number> {
  const exposition = await registry.metrics();
  const line = exposition.split('\n').find((l) => l.startsWith(`${text} `));
  return line ? Number(line.slice(text.length + 1)) : 0;
}

describe('Loki audit shipper', () => {
  it('pushes events in batches, in id order, with the tenant, the token and the fixed stream', async () => {
    const { loki, ship, ban, store } = await setup();
    for (let i = 1; i <= 7; i++) await ban(`198.51.100.${i}`);
    const registry = new Registry();
    const shipper = ship({
      batchSize: 3,
      tenant: 'team-a',
      bearer: BEARER,
      labels: { cluster: 'eu1' },
      registry,
    });
    await shipper.idle();
    expect(loki.accepted.map((request) => request.entries.length)).toEqual([3, 3, 1]);
    for (const request of loki.accepted) {
      expect(request.headers['x-scope-orgid']).toBe('team-a');
      expect(request.headers.authorization).toBe(`Bearer ${BEARER}`);
      for (const entry of request.entries) {
        expect(entry.stream).toEqual({ job: 'lokiban', stream: 'audit', cluster: 'eu1' });
      }
    }
    const events = (await store.listAudit({ after: 0, limit: 100 })).filter((e) => e.kind === 'ban');
    expect(loki.stored().map((entry) => entry.ns)).toEqual(events.map((e) => `${e.at}000000`));
    expect(lines(loki)).toEqual(
      events.map((e) =>
        expect.stringMatching(
          new RegExp(
            `^event=ban ip=${e.ip!.replaceAll('.', '\\.')} jail=sshd bantime=3600 .* summary="brute force" id=${e.id}$`,
          ),
        ),
      ),
    );
    expect(await metric(registry, 'lokiban_audit_loki_shipped_total')).toBe(7);
    expect(await metric(registry, 'lokiban_audit_loki_lag_seconds')).toBe(0);

    // New events while running: an unban follows.
    await store.unban('198.51.100.1', { actor: 'ops', now: Date.now() });
    await shipper.idle();
    expect(lines(loki).at(-1)).toMatch(
      /^event=unban ip=198\.51\.100\.1 jail=sshd .* actor=ops ban_id=1 id=\d+$/,
    );
  });

  it('sends basic auth and no tenant header when none is configured', async () => {
    const { loki, ship, ban } = await setup();
    await ban('198.51.100.9');
    await ship({ basic: { username: 'loki', password: 'basic-password-0123456789' } }).idle();
    const [request] = loki.accepted;
    expect(request?.headers.authorization).toBe(
      `Basic ${Buffer.from('loki:basic-password-0123456789').toString('base64')}`,
    );
    expect(request?.headers['x-scope-orgid']).toBeUndefined();
  });

  it('keeps retrying while Loki answers 503 or 429 and loses nothing once it recovers', async () => {
    const { loki, ship, ban, logs } = await setup();
    for (let i = 1; i <= 4; i++) await ban(`198.51.100.${i}`);
    loki.failNext(503, 503, 429, 500);
    const registry = new Registry();
    const shipper = ship({ batchSize: 2, registry });
    // A ban recorded while Loki is failing is pushed too.
    await ban('198.51.100.5');
    await shipper.idle();
    expect(loki.received).toBe(4 + 3);
    expect(lines(loki).map((line) => line.split(' ')[1])).toEqual([
      'ip=198.51.100.1',
      'ip=198.51.100.2',
      'ip=198.51.100.3',
      'ip=198.51.100.4',
      'ip=198.51.100.5',
    ]);
    // Nothing was sent twice: every accepted entry is distinct.
    expect(loki.accepted.flatMap((r) => r.entries)).toHaveLength(5);
    expect(await metric(registry, 'lokiban_audit_loki_failed_total{reason="server_error"}')).toBe(3);
    expect(await metric(registry, 'lokiban_audit_loki_failed_total{reason="too_many_requests"}')).toBe(1);
    expect(await metric(registry, 'lokiban_audit_loki_shipped_total')).toBe(5);
    expect(logs.filter((l) => l.level === 'warn' && l.message.includes('retrying'))).toHaveLength(4);
  });

  it('retries network errors until Loki is reachable', async () => {
    const { loki, ship, ban } = await setup();
    await ban('198.51.100.20');
    const dead = await startFakeLoki();
    const deadUrl = dead.url;
    await dead.close();
    const registry = new Registry();
    const shipper = ship({ url: deadUrl, registry, retryMaxMs: 20 });
    await expect
      .poll(() => metric(registry, 'lokiban_audit_loki_failed_total{reason="network"}'))
      .toBeGreaterThan(1);
    await shipper.stop();
    expect(await metric(registry, 'lokiban_audit_loki_shipped_total')).toBe(0);
    // Started again against the live Loki (a restart), the event is found within the lookback.
    await ship().idle();
    expect(lines(loki)).toEqual([expect.stringMatching(/^event=ban ip=198\.51\.100\.20 /)]);
  });

  it('keeps the events while Loki refuses the credentials (401/403/404) and delivers them once fixed', async () => {
    const { loki, ship, ban } = await setup();
    await ban('198.51.100.30');
    loki.failNext(401, 403, 404);
    const registry = new Registry();
    const shipper = ship({ registry, retryMaxMs: 20 });
    await shipper.idle();
    expect(lines(loki)).toEqual([expect.stringMatching(/^event=ban ip=198\.51\.100\.30 /)]);
    expect(await metric(registry, 'lokiban_audit_loki_failed_total{reason="unauthorized"}')).toBe(3);
    expect(await metric(registry, 'lokiban_audit_loki_dropped_total')).toBe(0);
  });

  it('gives up loudly on a 400: logged, counted, and the events after it still go out', async () => {
    const { loki, ship, ban, logs } = await setup();
    await ban('198.51.100.1');
    loki.failNext(400);
    const registry = new Registry();
    const shipper = ship({ registry, bearer: BEARER });
    await shipper.idle();
    await ban('198.51.100.2');
    await shipper.idle();
    expect(lines(loki)).toEqual([expect.stringMatching(/^event=ban ip=198\.51\.100\.2 /)]);
    expect(await metric(registry, 'lokiban_audit_loki_failed_total{reason="rejected"}')).toBe(1);
    expect(await metric(registry, 'lokiban_audit_loki_dropped_total')).toBe(1);
    const error = logs.find((l) => l.level === 'error');
    expect(error?.message).toMatch(/Loki rejected audit events/);
    expect(error?.object).toMatchObject({ status: 400, events: 1, response: 'planned 400\n' });
    // The token never reaches a log line.
    expect(JSON.stringify(logs)).not.toContain(BEARER);
  });

  it('re-pushes only the lookback window after a restart, as identical entries', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const { loki, ship, ban } = await setup(clock);
    for (let i = 1; i <= 5; i++) {
      await ban(`198.51.100.${i}`);
      clock.now += 30 * 60_000;
    }
    // Events at 00:00, 00:30, 01:00, 01:30, 02:00; now 02:30; a one-hour lookback starts at 01:30.
    const now = () => clock.now;
    const running = ship({ now, lookbackMs: 3_600_000 });
    await running.idle();
    expect(lines(loki).map((line) => line.split(' ')[1])).toEqual(['ip=198.51.100.4', 'ip=198.51.100.5']);
    const first = loki.stored();

    // A second responder on the same store stands by while the first holds the lease…
    const standby = ship({ now, lookbackMs: 3_600_000 });
    await standby.idle();
    expect(loki.accepted.flatMap((r) => r.entries)).toHaveLength(2);
    // …and takes over when it stops, re-pushing the window: the same entries, nothing new in Loki.
    await running.stop();
    await standby.idle();
    expect(loki.accepted.flatMap((r) => r.entries)).toHaveLength(4);
    expect(loki.stored()).toEqual(first);
    await standby.stop();

    // A lookback covering everything pushes the older three as well, the rest again identically.
    await ship({ now, lookbackMs: 24 * 3_600_000 }).idle();
    expect(loki.stored()).toHaveLength(5);
  });

  it('waits for a hole in the ids to fill (a transaction committing late) before moving past it', async () => {
    const { loki, ban, store, logger } = await setup();
    for (let i = 1; i <= 4; i++) await ban(`198.51.100.${i}`);
    const hidden = new Set([2]);
    // Reads as Postgres would show them while the insert of event 2 has not committed yet.
    const lagging: Pick<Store, 'listAudit' | 'getBan' | 'acquireLease' | 'releaseLease'> = {
      listAudit: async (query) =>
        (await store.listAudit(query)).filter((event: AuditEvent) => !hidden.has(event.id)),
      getBan: (id) => store.getBan(id),
      acquireLease: (...args) => store.acquireLease(...args),
      releaseLease: (...args) => store.releaseLease(...args),
    };
    const shipper = createLokiShipper({
      store: lagging,
      logger,
      url: loki.url,
      flushIntervalMs: 10,
      gapWaitMs: 60_000,
    });
    cleanups.push(() => shipper.stop());
    shipper.start();
    await expect.poll(() => lines(loki).length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines(loki)).toHaveLength(1);
    hidden.clear();
    await shipper.idle();
    expect(lines(loki).map((line) => line.split(' ')[1])).toEqual([
      'ip=198.51.100.1',
      'ip=198.51.100.2',
      'ip=198.51.100.3',
      'ip=198.51.100.4',
    ]);

    await shipper.stop();

    // A hole that never fills (a rolled-back insert) is passed after gapWaitMs.
    const skipping = createLokiShipper({
      store: { ...lagging, listAudit: async (q) => (await store.listAudit(q)).filter((e) => e.id !== 5) },
      logger,
      url: loki.url,
      flushIntervalMs: 10,
      gapWaitMs: 50,
    });
    cleanups.push(() => skipping.stop());
    await ban('198.51.100.5');
    await ban('198.51.100.6');
    skipping.start();
    await skipping.idle();
    expect(lines(loki).map((line) => line.split(' ')[1])).toEqual([
      'ip=198.51.100.1',
      'ip=198.51.100.2',
      'ip=198.51.100.3',
      'ip=198.51.100.4',
      'ip=198.51.100.6',
    ]);
  });
});
