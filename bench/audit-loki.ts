// Audit shipping throughput: a SQLite store with N ban events, pushed to a local HTTP endpoint that
// parses each push like Loki's JSON handler (test/support/fake-loki.ts). Results: bench/audit-loki.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { formatAuditLine } from '../src/audit/logfmt.js';
import { createLokiShipper } from '../src/audit/loki-shipper.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { testConfig } from '../test/support/config.js';
import { startFakeLoki } from '../test/support/fake-loki.js';

const N = Number(process.env.EVENTS ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'lkb-audit-bench-'));
const store = new SqliteStore(join(dir, 'bench.db'));
await store.init();
const loki = await startFakeLoki();
const quiet = { info() {}, warn() {}, error() {} };
try {
  const policy = buildDecisionPolicy(testConfig(), { localAddresses: [] });
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    await store.manualBan({ ip, jail: 'sshd', actor: 'ops', reason: `bench "${i}" a=b` }, policy);
  }
  console.log(`recorded ${N} bans in ${(performance.now() - t).toFixed(0)} ms`);

  const events = await store.listAudit({ after: 0, limit: N });
  t = performance.now();
  for (let round = 0; round < 10; round++)
    for (const event of events) formatAuditLine(event, { summary: 'x y' });
  console.log(
    `formatAuditLine: ${(((performance.now() - t) * 1000) / (10 * events.length)).toFixed(2)} µs/line`,
  );

  for (const batchSize of [100, 500, 2000]) {
    const before = loki.accepted.length;
    const shipper = createLokiShipper({
      store,
      logger: quiet,
      registry: new Registry(),
      url: loki.url,
      batchSize,
      flushIntervalMs: 50,
    });
    t = performance.now();
    shipper.start();
    await shipper.idle();
    const ms = performance.now() - t;
    await shipper.stop();
    const pushed = loki.accepted.slice(before).reduce((n, r) => n + r.entries.length, 0);
    console.log(
      `batchSize ${batchSize}: ${pushed} events in ${ms.toFixed(0)} ms (${Math.round((pushed / ms) * 1000)}/s, ${loki.accepted.length - before} requests, start-up search included)`,
    );
  }
  t = performance.now();
  const probe = createLokiShipper({
    store,
    logger: quiet,
    url: loki.url,
    lookbackMs: 0,
    flushIntervalMs: 10,
  });
  probe.start();
  await probe.idle();
  await probe.stop();
  console.log(
    `start with nothing in the lookback window (binary search over ${N} ids + one read): ${(performance.now() - t).toFixed(1)} ms`,
  );
} finally {
  await loki.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
