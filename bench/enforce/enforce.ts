/**
 * Enforcement benchmarks against real namespace hosts (sshd + nftables) over SSH, with the SQLite store:
 *   fanout     10,000 new bans fanned out to 3 hosts: time until all are present on all hosts
 *   latency    one ban on 3 warm hosts: recorded → element present on every host (p50, p99)
 *   webhook    the same through the HTTP server: webhook POST received → element present on every host
 *   reconcile  100,000 active bans on one host after its set was flushed: time to restore them
 * Run as root: `node --import tsx bench/enforce/enforce.ts [fanout|latency|reconcile|all]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
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

async function setup(hostCount: number, enforcement: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-bench-'));
  const hosts: TestHost[] = [];
  for (let i = 0; i < hostCount; i++) hosts.push(await createTestHost({ name: `bench${i + 1}` }));
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
  for (const host of hosts) await enf.enforcer.setup(host.config);
  const teardown = async () => {
    await enf.stop();
    await store.close();
    for (const host of hosts) await host.destroy();
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

const which = process.argv[2] ?? 'all';
if (which === 'fanout' || which === 'all') await fanout();
if (which === 'latency' || which === 'all') await latency();
if (which === 'webhook' || which === 'all') await webhook();
if (which === 'reconcile' || which === 'all') await reconcile();
