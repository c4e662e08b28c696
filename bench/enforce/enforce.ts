/**
 * Enforcement benchmarks against real namespace hosts (sshd + nftables) over SSH, with the SQLite store:
 *   fanout     10,000 new bans fanned out to 3 hosts: time until all are present on all hosts
 *   latency    one ban on 3 warm hosts: recorded → element present on every host (p50, p99)
 *   webhook    the same through the HTTP server: webhook POST received → element present on every host
 *   reconcile  100,000 active bans on one host after its set was flushed: time to restore them
 *   floor      10,000 elements by one local `nft -f` in a namespace (the physical floor) against
 *              lokiban's 10,000 bans into one namespace host over SSH, live and on first contact,
 *              side by side, 3 repetitions
 *   fleet      10,000 new bans present on 1, 3 and 10 namespace hosts, 3 repetitions, interleaved
 * Run as root: `node --import tsx bench/enforce/enforce.ts [fanout|latency|webhook|reconcile|floor|fleet|all]`
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
import { nftSetupScript } from '../../src/enforce/backends/nftables.js';
import { createEnforcement } from '../../src/enforce/index.js';
import { startServer } from '../../src/server.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { createTestHost, type TestHost } from '../../test/support/netns.js';

const logger = pino({ level: 'silent' });
let serial = 0;

function ipFor(n: number): string {
  return `100.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
}

function offences(count: number): BatchItem[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, index) => {
    serial += 1;
    const ip = ipFor(serial);
    return {
      kind: 'offence' as const,
      index,
      offence: {
        fingerprint: `bench-${serial}`,
        startsAt: now,
        jail: 'sshd',
        ip,
        reportedIp: ip,
        source: 'alertmanager' as const,
        labels: { ip, jail: 'sshd' },
        receivedAt: now,
      },
    };
  });
}

async function setup(
  hostCount: number | TestHost[],
  enforcement: Record<string, unknown> = {},
  opts: { setup?: boolean } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-bench-'));
  const own = typeof hostCount === 'number';
  const hosts: TestHost[] = own ? [] : hostCount;
  if (own) for (let i = 0; i < hostCount; i++) hosts.push(await createTestHost({ name: `bench${i + 1}` }));
  const config = parseConfig(
    JSON.stringify({
      store: { sqlite: join(dir, 'lokiban.db') },
      auth: { webhook: { bearer: 'bench-token-0123456789' } },
      defaults: { bantime: '1d', ignoreip: [] },
      // Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
      safety: { maxNewBansPerMinute: 0 },
      jails: { sshd: {} },
      transport: 'ssh',
      hosts: hosts.map((h) => ({ ...h.config, match: {} })),
      enforcement: { reconcileInterval: 3600, ...enforcement },
    }),
    {},
  );
  const store = new SqliteStore(join(dir, 'lokiban.db'));
  await store.init();
  const policy = buildDecisionPolicy(config, { localAddresses: [] });
  const enf = createEnforcement(config, store, logger, { owner: 'bench' });
  if (opts.setup !== false) for (const host of hosts) await enf.enforcer.setup(host.config);
  const teardown = async () => {
    await enf.stop();
    await store.close();
    if (own) for (const host of hosts) await host.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  return { hosts, store, policy, enf, config, teardown };
}

/** True when `ip` is in the host's set (checked after each sample, outside the timing). */
function present(host: TestHost, ip: string): boolean {
  try {
    host.nft(['get', 'element', 'inet', 'lokiban', 'banned4', `{ ${ip} }`]);
    return true;
  } catch {
    return false;
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;

async function fanout(): Promise<void> {
  const { hosts, store, policy, enf, teardown } = await setup(3);
  try {
    enf.start();
    await enf.reconcile();
    const names = hosts.map((h) => h.config.name);
    const started = performance.now();
    // Alertmanager groups: 10 deliveries of 1,000 alerts each.
    for (let i = 0; i < 10; i++) {
      await store.recordBatch(offences(1000), policy, 'alertmanager');
      enf.notify(names);
    }
    const recorded = performance.now() - started;
    const done = new Set<string>();
    while (done.size < hosts.length) {
      for (const host of hosts) {
        if (!done.has(host.ns) && host.list(4).length === 10_000) done.add(host.ns);
      }
      if (done.size < hosts.length) await new Promise((r) => setTimeout(r, 20));
    }
    const total = performance.now() - started;
    console.log(
      `fanout: 10,000 bans × 3 hosts: recorded in ${recorded.toFixed(0)} ms, all present on all hosts after ${total.toFixed(0)} ms`,
    );
  } finally {
    await teardown();
  }
}

async function latency(): Promise<void> {
  const { hosts, store, policy, enf, teardown } = await setup(3);
  try {
    enf.start();
    await enf.reconcile();
    const names = hosts.map((h) => h.config.name);
    const samples: number[] = [];
    for (let i = 0; i < 220; i++) {
      const [item] = offences(1);
      const ip = (item as Extract<BatchItem, { kind: 'offence' }>).offence.ip;
      const startedAt = Date.now();
      const started = performance.now();
      await store.recordBatch([item!], policy, 'alertmanager');
      enf.notify(names);
      // Done when every host's nft transaction has exited 0 (the kernel has committed the element).
      while (!enf.status.hosts().every((h) => (h.lastAppliedAt ?? 0) >= startedAt)) {
        await new Promise((r) => setImmediate(r));
      }
      const elapsed = performance.now() - started;
      if (!hosts.every((h) => present(h, ip))) throw new Error(`${ip} missing after its batch was applied`);
      // The first 20 warm the JIT and the prepared statements.
      if (i >= 20) samples.push(elapsed);
      await new Promise((r) => setTimeout(r, 5));
    }
    samples.sort((a, b) => a - b);
    console.log(
      `latency: one ban recorded → present on all 3 hosts, n=${samples.length}: p50 ${percentile(samples, 0.5).toFixed(1)} ms, p99 ${percentile(samples, 0.99).toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`,
    );
  } finally {
    await teardown();
  }
}

async function webhook(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-bench-'));
  const hosts: TestHost[] = [];
  for (let i = 0; i < 3; i++) hosts.push(await createTestHost({ name: `bench${i + 1}` }));
  const token = 'bench-webhook-token-0123456789';
  const config = parseConfig(
    JSON.stringify({
      server: { listen: '127.0.0.1:0' },
      store: { sqlite: join(dir, 'lokiban.db') },
      auth: { webhook: { bearer: token } },
      logging: { level: 'warn' },
      defaults: { bantime: '1d', ignoreip: [] },
      // Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
      safety: { maxNewBansPerMinute: 0 },
      jails: { sshd: {} },
      transport: 'ssh',
      hosts: hosts.map((h) => ({ ...h.config, match: {} })),
      enforcement: { reconcileInterval: 3600 },
    }),
    {},
  );
  let enf: ReturnType<typeof createEnforcement> | undefined;
  const server = await startServer(config, {
    enforcement: ({ store, logger: log }) => {
      enf = createEnforcement(config, store, log, { owner: 'bench' });
      return enf;
    },
  });
  try {
    await enf!.reconcile();
    const samples: number[] = [];
    const answers: number[] = [];
    for (let i = 0; i < 220; i++) {
      serial += 1;
      const ip = ipFor(serial);
      const body = JSON.stringify({
        version: '4',
        groupKey: `{}:{ip="${ip}"}`,
        status: 'firing',
        receiver: 'lokiban',
        groupLabels: { ip },
        commonLabels: { alertname: 'SshdBruteForce', ip, jail: 'sshd' },
        commonAnnotations: {},
        externalURL: 'http://alertmanager',
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd' },
            annotations: {},
            startsAt: new Date().toISOString(),
            endsAt: '0001-01-01T00:00:00Z',
            generatorURL: '',
            fingerprint: `bench-${serial}`,
          },
        ],
      });
      const startedAt = Date.now();
      const started = performance.now();
      const response = await fetch(`${server.url}/api/v1/webhook`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
      const answered = performance.now() - started;
      while (!enf!.status.hosts().every((h) => (h.lastAppliedAt ?? 0) >= startedAt)) {
        await new Promise((r) => setImmediate(r));
      }
      const elapsed = performance.now() - started;
      if (!hosts.every((h) => present(h, ip))) throw new Error(`${ip} missing after its batch was applied`);
      if (i >= 20) {
        samples.push(elapsed);
        answers.push(answered);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    samples.sort((a, b) => a - b);
    answers.sort((a, b) => a - b);
    console.log(
      `webhook: 200 answered after p50 ${percentile(answers, 0.5).toFixed(1)} ms, p99 ${percentile(answers, 0.99).toFixed(1)} ms`,
    );
    console.log(
      `webhook: POST /api/v1/webhook → present on all 3 hosts, n=${samples.length}: p50 ${percentile(samples, 0.5).toFixed(1)} ms, p99 ${percentile(samples, 0.99).toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`,
    );
  } finally {
    await server.close();
    for (const host of hosts) await host.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function reconcile(): Promise<void> {
  const { hosts, store, policy, enf, teardown } = await setup(1, { batchSize: 20_000 });
  const host = hosts[0]!;
  try {
    for (let i = 0; i < 100; i++) await store.recordBatch(offences(1000), policy, 'alertmanager');
    enf.start();
    while (host.list(4).length < 100_000) await new Promise((r) => setTimeout(r, 200));
    await enf.stop();
    host.nft(['flush', 'set', 'inet', 'lokiban', 'banned4']);
    const started = performance.now();
    const [report] = await enf.reconcile();
    const elapsed = performance.now() - started;
    const present = host.list(4).length;
    console.log(
      `reconcile: 100,000 active bans after a flush: added ${report!.added}, ${present} present, ${elapsed.toFixed(0)} ms`,
    );
  } finally {
    await teardown();
  }
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[0]!.toFixed(0)} / ${sorted[sorted.length >> 1]!.toFixed(0)} / ${sorted.at(-1)!.toFixed(0)} ms`;
};

/**
 * Counts the elements each host's firewall accepted (its `nft -f` exited 0): `sent` is every element
 * in a committed transaction, `unique` the distinct addresses, `doneAt` when a host reached `target`.
 */
function countCommitted(enf: ReturnType<typeof createEnforcement>, target: number) {
  const perHost = new Map<string, { sent: number; unique: Set<string>; doneAt?: number }>();
  const apply = enf.enforcer.apply.bind(enf.enforcer);
  enf.enforcer.apply = async (host, batch) => {
    const result = await apply(host, batch);
    const entry = perHost.get(host.name) ?? { sent: 0, unique: new Set<string>() };
    perHost.set(host.name, entry);
    entry.sent += batch.add.length;
    for (const element of batch.add) entry.unique.add(element.ip);
    if (entry.doneAt === undefined && entry.unique.size >= target) entry.doneAt = performance.now();
    return result;
  };
  return perHost;
}

async function allDone(perHost: ReturnType<typeof countCommitted>, hosts: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  const done = () => perHost.size === hosts && [...perHost.values()].every((e) => e.doneAt !== undefined);
  while (!done()) {
    if (performance.now() > deadline) throw new Error('bans not committed on every host in time');
    await new Promise((r) => setTimeout(r, 2));
  }
  return Math.max(...[...perHost.values()].map((e) => e.doneAt!));
}

function checkPresent(hosts: TestHost[], count: number): void {
  for (const host of hosts) {
    const n = host.list(4).length;
    if (n !== count) throw new Error(`${host.config.name} holds ${n} elements, expected ${count}`);
  }
}

const flushSet = (host: TestHost) => host.nft(['flush', 'set', 'inet', 'lokiban', 'banned4']);

/** 10,000 bans recorded as ten 1,000-alert deliveries into a running, reconciled responder. */
async function liveRun(hosts: TestHost[]) {
  const { store, policy, enf, teardown } = await setup(hosts);
  try {
    const perHost = countCommitted(enf, 10_000);
    enf.start();
    await enf.reconcile();
    const names = hosts.map((h) => h.config.name);
    const batches = Array.from({ length: 10 }, () => offences(1000));
    const started = performance.now();
    for (const batch of batches) {
      await store.recordBatch(batch, policy, 'alertmanager');
      enf.notify(names);
    }
    const recorded = performance.now() - started;
    const total = (await allDone(perHost, hosts.length, 120_000)) - started;
    checkPresent(hosts, 10_000);
    const sent = [...perHost.values()].reduce((n, e) => n + e.sent, 0);
    return { recorded, total, sent };
  } finally {
    await teardown();
  }
}

/** 10,000 bans already in the store; a responder starts against a host that has never seen lokiban. */
async function firstContactRun(host: TestHost) {
  host.nft(['delete', 'table', 'inet', 'lokiban']);
  const { store, policy, enf, teardown } = await setup([host], {}, { setup: false });
  try {
    for (let i = 0; i < 10; i++) await store.recordBatch(offences(1000), policy, 'alertmanager');
    const perHost = countCommitted(enf, 10_000);
    const started = performance.now();
    enf.start();
    const total = (await allDone(perHost, 1, 120_000)) - started;
    // Let any second send arrive before counting.
    await new Promise((r) => setTimeout(r, 3000));
    checkPresent([host], 10_000);
    return { total, sent: perHost.get(host.config.name)!.sent };
  } finally {
    await teardown();
  }
}

/** 10,000 elements as lokiban writes them to a set it knows empty: `add element` lines of 2,000. */
function elementsFile(dir: string): string {
  const ips = offences(10_000).map((item) => (item as Extract<BatchItem, { kind: 'offence' }>).offence.ip);
  const lines: string[] = [];
  for (let i = 0; i < ips.length; i += 2000) {
    const chunk = ips.slice(i, i + 2000).map((ip) => `${ip} timeout 86400s`);
    lines.push(`add element inet lokiban banned4 { ${chunk.join(', ')} }`);
  }
  const file = join(dir, 'elements.nft');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The physical floor: one local `nft -f` of 10,000 elements in the namespace. */
function nftFloor(host: TestHost, dir: string): number {
  const file = elementsFile(dir);
  const started = performance.now();
  const run = spawnSync('ip', ['netns', 'exec', host.ns, 'nft', '-f', file]);
  const elapsed = performance.now() - started;
  if (run.status !== 0) throw new Error(`nft -f failed: ${run.stderr}`);
  checkPresent([host], 10_000);
  return elapsed;
}

/** The same on several namespaces at once: what this machine's cores allow for a fleet of that size. */
async function nftFloorParallel(hosts: TestHost[], dir: string): Promise<number> {
  const file = elementsFile(dir);
  const started = performance.now();
  await Promise.all(
    hosts.map(
      (host) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('ip', ['netns', 'exec', host.ns, 'nft', '-f', file], { stdio: 'ignore' });
          child.once('error', reject);
          child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f exited ${code}`))));
        }),
    ),
  );
  const elapsed = performance.now() - started;
  checkPresent(hosts, 10_000);
  return elapsed;
}

async function floor(): Promise<void> {
  const host = await createTestHost({ name: 'floor1' });
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-floor-'));
  const rows: string[] = [];
  const floorMs: number[] = [];
  const liveMs: number[] = [];
  const firstMs: number[] = [];
  try {
    for (let rep = 1; rep <= 3; rep++) {
      host.nft(['-f', '-'], nftSetupScript());
      flushSet(host);
      const load = loadavg();
      const nft = nftFloor(host, dir);
      flushSet(host);
      const live = await liveRun([host]);
      const first = await firstContactRun(host);
      floorMs.push(nft);
      liveMs.push(live.total);
      firstMs.push(first.total);
      rows.push(
        `rep ${rep} (load ${load}): nft -f ${nft.toFixed(0)} ms | lokiban live ${live.total.toFixed(0)} ms (recording ${live.recorded.toFixed(0)} ms, then ${(live.total - live.recorded).toFixed(0)} ms to the last commit, ${live.sent} elements sent), ratio ${(live.total / nft).toFixed(1)}× | first contact ${first.total.toFixed(0)} ms (${first.sent} elements sent), ratio ${(first.total / nft).toFixed(1)}×`,
      );
      console.log(rows.at(-1));
    }
    console.log(
      `floor: min/median/max nft -f ${summary(floorMs)}; lokiban live ${summary(liveMs)}; first contact ${summary(firstMs)} (load now ${loadavg()})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await host.destroy();
  }
}

async function fleet(): Promise<void> {
  const sizes = (process.env.FLEET_SIZES ?? '1,3,10').split(',').map(Number);
  const reps = Number(process.env.FLEET_REPS ?? 3);
  const hosts: TestHost[] = [];
  for (let i = 0; i < Math.max(...sizes); i++) hosts.push(await createTestHost({ name: `fleet${i + 1}` }));
  const results = new Map<number, number[]>(sizes.map((n) => [n, []]));
  const floors = new Map<number, number[]>(sizes.map((n) => [n, []]));
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-fleet-'));
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const n of sizes) {
        const group = hosts.slice(0, n);
        for (const host of group) {
          host.nft(['-f', '-'], nftSetupScript());
          flushSet(host);
        }
        const load = loadavg();
        const nft = await nftFloorParallel(group, dir);
        for (const host of group) flushSet(host);
        const run = await liveRun(group);
        results.get(n)!.push(run.total);
        floors.get(n)!.push(nft);
        console.log(
          `rep ${rep}, ${n} host(s) (load ${load}): ${n} parallel local nft -f ${nft.toFixed(0)} ms | lokiban: 10,000 bans present on all after ${run.total.toFixed(0)} ms (recording ${run.recorded.toFixed(0)} ms, then ${(run.total - run.recorded).toFixed(0)} ms to the last commit, ${run.sent} elements sent)`,
        );
      }
    }
    const median = (of: Map<number, number[]>, n: number) => {
      const sorted = [...of.get(n)!].sort((a, b) => a - b);
      return sorted[sorted.length >> 1]!;
    };
    for (const n of sizes)
      console.log(
        `fleet: ${n} host(s): lokiban min/median/max ${summary(results.get(n)!)}, median ×${(median(results, n) / median(results, sizes[0]!)).toFixed(2)} of ${sizes[0]} host(s); parallel nft -f ${summary(floors.get(n)!)}, median ×${(median(floors, n) / median(floors, sizes[0]!)).toFixed(2)}`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const host of hosts) await host.destroy();
  }
}

const which = process.argv[2] ?? 'all';
if (which === 'fanout' || which === 'all') await fanout();
if (which === 'latency' || which === 'all') await latency();
if (which === 'webhook' || which === 'all') await webhook();
if (which === 'reconcile' || which === 'all') await reconcile();
if (which === 'floor' || which === 'all') await floor();
if (which === 'fleet' || which === 'all') await fleet();
