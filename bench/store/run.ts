/**
 * Store-level delivery benchmark: single-alert deliveries per second and latency percentiles for
 * SQLite with one responder, and Postgres with one and with two responder processes on one
 * database. Each responder is a separate process with its own store, recording single-alert batches
 * from 8 concurrent senders. No HTTP: this is what the store adds to every webhook.
 *
 * Run: LOKIBAN_TEST_POSTGRES_URL=postgres://… node --import tsx bench/store/run.ts [alerts]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Offence } from '../../src/domain/types.js';
import { createTestSchema } from '../../test/support/postgres.js';
import type { BenchReply, BenchRequest } from './replica.js';

const ALERTS = Number(process.argv[2] ?? 4000);
const CONCURRENCY = 8;
const WORKER = fileURLToPath(new URL('./replica.ts', import.meta.url));
const pgUrl = process.env.LOKIBAN_TEST_POSTGRES_URL;
if (!pgUrl) throw new Error('set LOKIBAN_TEST_POSTGRES_URL (scripts/start-postgres.sh starts a server)');

let serial = 0;
function alerts(count: number): Offence[] {
  return Array.from({ length: count }, () => {
    serial += 1;
    const ip = `100.${(serial >> 16) & 255}.${(serial >> 8) & 255}.${serial & 255}`;
    return {
      fingerprint: `bench-${serial}`,
      startsAt: 1_700_000_000_000 + serial,
      jail: 'sshd',
      ip,
      reportedIp: ip,
      source: 'alertmanager',
      labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd' },
      receivedAt: Date.now(),
    } satisfies Offence;
  });
}

async function startReplica(store: 'sqlite' | 'postgres', target: string): Promise<ChildProcess> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_STORE: store, BENCH_TARGET: target },
  });
  const [message] = await once(child, 'message');
  if (message !== 'ready') throw new Error(`replica sent ${String(message)}`);
  return child;
}

async function run(child: ChildProcess, request: BenchRequest): Promise<BenchReply> {
  const reply = once(child, 'message') as Promise<[BenchReply]>;
  child.send(request);
  return (await reply)[0];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Row {
  setup: string;
  deliveries: number;
  perSecond: number;
  p50: number;
  p99: number;
  outcomes: Record<string, number>;
  errors: number;
}

/** Runs one scenario: each replica gets its list of alerts, all start at once. */
async function scenario(setup: string, children: ChildProcess[], lists: Offence[][]): Promise<Row> {
  // Warm-up: connections, prepared plans, JIT.
  await Promise.all(children.map((child) => run(child, { alerts: alerts(200), concurrency: CONCURRENCY })));
  const replies = await Promise.all(
    children.map((child, i) => run(child, { alerts: lists[i]!, concurrency: CONCURRENCY })),
  );
  const latencies = replies.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const wall = Math.max(...replies.map((r) => r.endedAt)) - Math.min(...replies.map((r) => r.startedAt));
  const outcomes: Record<string, number> = {};
  for (const reply of replies)
    for (const [kind, n] of Object.entries(reply.outcomes)) outcomes[kind] = (outcomes[kind] ?? 0) + n;
  return {
    setup,
    deliveries: latencies.length,
    perSecond: Math.round((latencies.length / wall) * 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    outcomes,
    errors: replies.reduce((sum, r) => sum + r.errors, 0),
  };
}

const rows: Row[] = [];
const dir = mkdtempSync(join(tmpdir(), 'lkb-pg-bench-'));
const schemas: Array<{ drop(): Promise<void> }> = [];
const children: ChildProcess[] = [];
try {
  const sqlite = await startReplica('sqlite', join(dir, 'bench.db'));
  children.push(sqlite);
  rows.push(await scenario('SQLite, 1 responder', [sqlite], [alerts(ALERTS)]));

  const one = await createTestSchema(pgUrl, 'lkb_bench');
  schemas.push(one);
  const solo = await startReplica('postgres', one.url);
  children.push(solo);
  rows.push(await scenario('Postgres, 1 responder', [solo], [alerts(ALERTS)]));

  const two = await createTestSchema(pgUrl, 'lkb_bench');
  schemas.push(two);
  const pair = await Promise.all([startReplica('postgres', two.url), startReplica('postgres', two.url)]);
  children.push(...pair);
  rows.push(
    await scenario('Postgres, 2 responders, different alerts', pair, [
      alerts(ALERTS / 2),
      alerts(ALERTS / 2),
    ]),
  );
  const both = alerts(ALERTS / 2);
  rows.push(await scenario('Postgres, 2 responders, every alert to both', pair, [both, [...both].reverse()]));
} finally {
  for (const child of children) child.disconnect();
  await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
  for (const schema of schemas) await schema.drop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`alerts per scenario: ${ALERTS}, senders per responder: ${CONCURRENCY}`);
console.log(
  `cpus: ${cpus().length} × ${cpus()[0]?.model}, load average: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log('| setup | deliveries | deliveries/s | p50 ms | p99 ms | outcomes | errors |');
console.log('| --- | ---: | ---: | ---: | ---: | --- | ---: |');
for (const row of rows) {
  const outcomes = Object.entries(row.outcomes)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  console.log(
    `| ${row.setup} | ${row.deliveries} | ${row.perSecond} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${outcomes} | ${row.errors} |`,
  );
}
