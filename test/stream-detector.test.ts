import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../src/config/load.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import { createDecisions } from '../src/decisions/decisions.js';
import type { BatchItem } from '../src/domain/types.js';
import { loadCatalogue } from '../src/logql/catalogue.js';
import { DEFAULT_CATALOGUE } from '../src/logql/toolkit.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { StreamDetector } from '../src/stream/detector.js';
import { adoptBurstIdentities, burstFingerprint } from '../src/stream/identity.js';
import { buildPipelines, groupTails } from '../src/stream/pipelines.js';

const catalogue = loadCatalogue(DEFAULT_CATALOGUE);
const T0 = Date.parse('2026-12-02T10:00:00Z');
const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
const ATTACKER = '203.0.113.7';

function config(jails: Record<string, unknown> = { sshd: { bantime: 600 } }): Config {
  return parseConfig(
    JSON.stringify({
      auth: { webhook: { bearer: 'webhook-token-0123456789' } },
      jails,
      hosts: [{ name: 'web1', address: '192.0.2.10' }],
      detect: { loki: { url: 'http://127.0.0.1:1' } },
    }),
    {},
  );
}

function failures(ip: string, start: number, count: number, host = 'bastion') {
  return Array.from({ length: count }, (_, i) => ({
    labels: { job: 'sshd', host },
    ns: ns(start + i * 1000),
    line: `Failed password for root from ${ip} port ${40000 + i} ssh2`,
  }));
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('tail grouping', () => {
  it('opens one tail per selector shape: the whole shipped catalogue needs two tails', () => {
    const all = Object.fromEntries(catalogue.map((definition) => [definition.name, {}]));
    const { pipelines, skipped } = buildPipelines(catalogue, config(all));
    expect(skipped).toEqual([]);
    const groups = groupTails(pipelines);
    expect(pipelines).toHaveLength(catalogue.length);
    // Every selector but one is a single job= or job=~ matcher: they merge into one job=~ tail; recidive reads
    // {job="lokiban", stream="audit"} on a tail of its own.
    expect(groups).toHaveLength(2);
    expect(groups[0]!.query.startsWith('{job=~"')).toBe(true);
    expect(groups[0]!.jails).toHaveLength(catalogue.length - 1);
    expect(groups[1]!.jails.map((jail) => jail.name)).toEqual(['recidive']);
  });

  it('keeps 90 jails on distinct selectors of one label within one tail, and other shapes apart', () => {
    // 90 enabled jails with their own selectors: same catalogue definitions, different job labels.
    const copies = Array.from({ length: 90 }, (_, i) => ({
      ...catalogue[i % catalogue.length]!,
      name: `jail-${i}`,
      selector: i < 80 ? `{job="svc-${i}"}` : `{unit="svc-${i}.service", host=~"web.+"}`,
    }));
    const manyJails = Object.fromEntries(copies.map((copy) => [copy.name, {}]));
    const { pipelines } = buildPipelines(copies, config(manyJails));
    expect(pipelines).toHaveLength(90);
    const groups = groupTails(pipelines);
    // 80 job="…" selectors share one tail; the 10 two-matcher selectors get one each.
    expect(groups).toHaveLength(11);
  });

  it('narrows a tail by the union of its jails’ first line filters, and the query parses', () => {
    const { pipelines } = buildPipelines(catalogue, config({ sshd: {}, 'sshd-aggressive': {} }));
    const [group] = groupTails(pipelines);
    expect(group!.query).toMatch(/^\{job="sshd"\} \|~ `/);
  });
});

describe('StreamDetector → store', () => {
  let dir: string;
  let stores: SqliteStore[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-stream-'));
    stores = [];
  });

  afterEach(async () => {
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function replica(cfg: Config, now: () => number) {
    const store = new SqliteStore(join(dir, 'lokiban.db'));
    await store.init();
    stores.push(store);
    const policy = buildDecisionPolicy(cfg, { now });
    const notified: string[][] = [];
    const recorded: BatchItem[][] = [];
    const registry = new Registry();
    const decisions = createDecisions({
      config: cfg,
      store,
      policy,
      metrics: {
        alerts: new Counter({
          name: 'alerts',
          help: 'alerts',
          labelNames: ['outcome', 'jail'],
          registers: [registry],
        }),
        storeDuration: new Histogram({
          name: 'store',
          help: 'store',
          labelNames: ['operation'],
          registers: [registry],
        }),
      },
      wake: (hosts) => notified.push(hosts),
    });
    const record = (items: BatchItem[]) => decisions.recordDelivery(items, 'loki-tail');
    const detector = new StreamDetector({
      config: { jails: cfg.jails, labels: cfg.labels, detect: { loki: cfg.detect!.loki! } },
      catalogue,
      record: async (items) => {
        recorded.push(items);
        return record(items);
      },
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      now,
    });
    return { store, policy, detector, notified, recorded };
  }

  it('bans at the maxretry-th line with the burst identity; a second replica’s copy is a duplicate', async () => {
    const cfg = config();
    const clock = T0 + 10_000;
    const a = await replica(cfg, () => clock);
    const b = await replica(cfg, () => clock);
    const group = a.detector.groups[0]!;
    const lines = failures(ATTACKER, T0, 5);
    a.detector.process(group, lines.slice(0, 4), 'live');
    await settle();
    expect(a.recorded).toEqual([]);
    a.detector.process(group, lines.slice(4), 'live');
    b.detector.process(b.detector.groups[0]!, lines, 'live');
    await settle();
    const offence = a.recorded[0]![0]!;
    expect(offence).toMatchObject({
      kind: 'offence',
      offence: {
        fingerprint: burstFingerprint('sshd', ATTACKER, 'bastion'),
        startsAt: T0 + 4000,
        jail: 'sshd',
        ip: ATTACKER,
        originHost: 'bastion',
        source: 'loki-tail',
      },
    });
    const bans = await a.store.listBans({ ip: ATTACKER }, clock);
    expect(bans).toHaveLength(1);
    expect(bans[0]).toMatchObject({ source: 'loki-tail', offences: 1, level: 0 });
    expect(a.notified.length + b.notified.length).toBe(1);
  });

  it('makes the ruler’s alert for the same burst a duplicate, and a later burst escalates', async () => {
    const cfg = config();
    let clock = T0 + 5_000;
    const a = await replica(cfg, () => clock);
    const group = a.detector.groups[0]!;
    a.detector.process(group, failures(ATTACKER, T0, 5), 'live');
    await settle();
    // The ruler evaluates a little later and Alertmanager delivers its alert (own fingerprint, startsAt).
    const ruler: BatchItem = {
      kind: 'offence',
      index: 0,
      offence: {
        fingerprint: '4c8d0a1b2e3f4a5b',
        startsAt: T0 + 9_000,
        jail: 'sshd',
        ip: ATTACKER,
        reportedIp: ATTACKER,
        originHost: 'bastion',
        source: 'alertmanager',
        labels: { alertname: 'SshdBruteForce', ip: ATTACKER, jail: 'sshd', host: 'bastion' },
        receivedAt: clock,
      },
    };
    clock = T0 + 12_000;
    const adopted = await adoptBurstIdentities([ruler], a.store, cfg.jails);
    const [outcome] = (await a.store.recordBatch(adopted, a.policy, 'alertmanager')).outcomes;
    expect(outcome).toMatchObject({ outcome: 'duplicate' });
    // Alertmanager re-sends the firing group at repeat_interval: still the same burst.
    clock = T0 + 3_600_000;
    const again = await adoptBurstIdentities([ruler], a.store, cfg.jails);
    expect((await a.store.recordBatch(again, a.policy, 'alertmanager')).outcomes[0]!.outcome).toBe(
      'duplicate',
    );

    // The first episode ends when its fifth newest line leaves findtime; the ban (600 s) has expired.
    const second = T0 + 3_700_000;
    clock = second + 5_000;
    a.detector.process(group, failures(ATTACKER, second, 5), 'live');
    await settle();
    const bans = await a.store.listBans({ ip: ATTACKER }, clock);
    expect(bans.map((ban) => ban.level).sort()).toEqual([0, 1]);
    // The first episode's end was recorded, so a ruler alert after it cannot be taken for it.
    const burst = await a.store.findBursts([
      { fingerprint: burstFingerprint('sshd', ATTACKER, 'bastion'), at: T0 + 700_000 },
    ]);
    expect(burst[0]).toEqual({ startsAt: T0 + 4000, endedAt: T0 + 600_000 });
  });

  it('records a ruler alert that no tail burst covers under its own identity', async () => {
    const cfg = config();
    const clock = T0 + 5_000;
    const a = await replica(cfg, () => clock);
    a.detector.process(a.detector.groups[0]!, failures(ATTACKER, T0, 5), 'live');
    await settle();
    const other: BatchItem = {
      kind: 'offence',
      index: 0,
      offence: {
        fingerprint: 'aaaabbbbccccdddd',
        startsAt: T0 + 9_000,
        jail: 'sshd',
        ip: '198.51.100.9',
        reportedIp: '198.51.100.9',
        originHost: 'bastion',
        source: 'alertmanager',
        labels: {},
        receivedAt: clock,
      },
    };
    const adopted = await adoptBurstIdentities([other], a.store, cfg.jails);
    expect(adopted).toEqual([other]);
    expect((await a.store.recordBatch(adopted, a.policy, 'alertmanager')).outcomes[0]!.outcome).toBe(
      'banned',
    );
  });

  it('counts a jail split into several rules as one counter, each line once, as fail2ban does', async () => {
    const cfg = config();
    const a = await replica(cfg, () => T0 + 5_000);
    const group = a.detector.groups[0]!;
    expect(group.jails[0]!.parts.length).toBeGreaterThan(1);
    const mixed = [
      ...failures(ATTACKER, T0, 3),
      ...[3, 4].map((i) => ({
        labels: { job: 'sshd', host: 'bastion' },
        ns: ns(T0 + i * 1000),
        line: `error: maximum authentication attempts exceeded for root from ${ATTACKER} port ${40000 + i} ssh2 [preauth]`,
      })),
    ];
    a.detector.process(group, mixed.slice(0, 4), 'live');
    await settle();
    expect(a.recorded).toEqual([]);
    a.detector.process(group, mixed.slice(4), 'live');
    await settle();
    expect(a.recorded.flat()).toMatchObject([
      { kind: 'offence', offence: { startsAt: T0 + 4000, ip: ATTACKER } },
    ]);
  });

  it('caps the windows it holds, counting evictions in /metrics', async () => {
    const cfg = parseConfig(
      JSON.stringify({
        auth: { webhook: { bearer: 'webhook-token-0123456789' } },
        jails: { sshd: {} },
        detect: { loki: { url: 'http://127.0.0.1:1', maxTracked: 100 } },
      }),
      {},
    );
    const registry = new Registry();
    const detector = new StreamDetector({
      config: { jails: cfg.jails, labels: cfg.labels, detect: { loki: cfg.detect!.loki! } },
      catalogue,
      record: async () => [],
      logger: pino({ level: 'silent' }),
      registry,
      now: () => T0,
    });
    const flood = Array.from({ length: 1000 }, (_, i) => failures(`10.9.${i >> 8}.${i & 255}`, T0, 1)[0]!);
    detector.process(detector.groups[0]!, flood, 'live');
    const text = await registry.metrics();
    expect(text).toContain('lokiban_tail_tracked_addresses 100');
    expect(text).toContain('lokiban_tail_evictions_total 900');
    expect(text).toContain('lokiban_tail_lines_matched_total{jail="sshd"} 1000');
  });

  it('takes the address from sshd’s own suffix, never from attacker-written text', async () => {
    const cfg = config();
    const a = await replica(cfg, () => T0 + 5_000);
    const injected = Array.from({ length: 5 }, (_, i) => ({
      labels: { job: 'sshd', host: 'bastion' },
      ns: ns(T0 + i),
      line: `Failed password for invalid user x from 10.0.0.9 port 1 ssh2 from ${ATTACKER} port 2`,
    }));
    a.detector.process(a.detector.groups[0]!, injected, 'live');
    await settle();
    expect(a.recorded.flat().map((item) => item.kind === 'offence' && item.offence.ip)).toEqual([ATTACKER]);
  });

  it('ignores lines the pipeline drops: another stream, an ignoreip source', async () => {
    const cfg = config({ sshd: { ignoreip: ['198.51.100.0/24'] } });
    const a = await replica(cfg, () => T0 + 5_000);
    const group = a.detector.groups[0]!;
    a.detector.process(group, failures('198.51.100.5', T0, 5), 'live');
    a.detector.process(
      group,
      failures(ATTACKER, T0, 5).map((e) => ({ ...e, labels: { job: 'nginx' } })),
      'live',
    );
    await settle();
    expect(a.recorded).toEqual([]);
  });
});
