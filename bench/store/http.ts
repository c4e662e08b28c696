/**
 * HTTP delivery benchmark for high availability: single-alert webhook deliveries per second and
 * p99 latency against real `lokiban serve` processes (the built JavaScript, dry-run transport, two
 * target hosts), for SQLite with one responder and Postgres with one and with two responders, in
 * one run. Load comes from autocannon over loopback, 16 connections in total per setup.
 *
 *   bash scripts/start-postgres.sh && npm run build
 *   LOKIBAN_TEST_POSTGRES_URL=postgres://lokiban:lokiban@127.0.0.1:5432/lokiban_test node --import tsx bench/store/http.ts
 *
 * Results are written down in bench/store/RESULTS.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort } from '../../test/support/port.js';
import { createTestSchema } from '../../test/support/postgres.js';

const TOKEN = 'bench-webhook-token-0123456789';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 16;
const pgUrl = process.env.LOKIBAN_TEST_POSTGRES_URL;
if (!pgUrl) throw new Error('set LOKIBAN_TEST_POSTGRES_URL (scripts/start-postgres.sh starts a server)');

const dir = mkdtempSync(join(tmpdir(), 'lkb-pg-http-bench-'));
const children: ChildProcess[] = [];
const schemas: Array<{ drop(): Promise<void> }> = [];

/** 12.x.y.z: public, not allowlisted, unique per counter value within a setup. */
function ipFor(setup: number, n: number): string {
  return `12.${setup * 40 + ((n >> 16) & 31)}.${(n >> 8) & 255}.${n & 255}`;
}

function delivery(ip: string, startsAt: string): string {
  return JSON.stringify({
    version: '4',
    receiver: 'lokiban',
    status: 'firing',
    groupLabels: { alertname: 'SshdBruteForce' },
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd' },
        annotations: { summary: `5 failed SSH logins from ${ip}` },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
      },
    ],
  });
}

async function serve(store: string): Promise<string> {
  const port = await freePort();
  const config = join(dir, `lokiban-${port}.yaml`);
  writeFileSync(
    config,
    `store: ${store}
auth: { webhook: { bearer: "${TOKEN}" } }
logging: { level: warn }
# Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
safety: { maxNewBansPerMinute: 0 }
jails: { sshd: {} }
transport: dry-run
hosts:
  - { name: web1, address: 192.0.2.10 }
  - { name: web2, address: 192.0.2.11 }
`,
  );
  const child = spawn(
    process.execPath,
    ['dist/cli/main.js', 'serve', '--config', config, '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return url;
    if (i > 200 || child.exitCode !== null) throw new Error(`lokiban serve on ${url} did not become ready`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Result {
  setup: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Bans the database holds afterwards for this setup's alerts (Postgres only). */
  bans?: number;
}

/**
 * Loads every url at once with CONNECTIONS / urls.length connections each. Each load generator
 * counts its own alerts from 1; `shared` makes them send the same alerts (the load balancer
 * worst case, every alert to every replica), otherwise each sends its own.
 */
async function load(setup: string, index: number, urls: string[], shared: boolean): Promise<Result> {
  const startsAt = new Date().toISOString();
  const runs = await Promise.all(
    urls.map((url, u) => {
      let counter = 0;
      return autocannon({
        url,
        connections: CONNECTIONS / urls.length,
        duration: DURATION_S,
        requests: [
          {
            method: 'POST',
            path: '/api/v1/webhook',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            setupRequest: (request) => {
              counter += 1;
              const n = shared ? counter : counter * urls.length + u;
              return { ...request, body: delivery(ipFor(index, n), startsAt) };
            },
          },
        ],
      });
    }),
  );
  return {
    setup,
    requests: runs.reduce((sum, r) => sum + r.requests.total, 0),
    perSecond: Math.round(runs.reduce((sum, r) => sum + r.requests.average, 0)),
    // Per generator percentiles; across two generators the worse one is reported.
    p50: Math.max(...runs.map((r) => r.latency.p50)),
    p99: Math.max(...runs.map((r) => r.latency.p99)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

async function postgresStore(): Promise<{ config: string; url: string }> {
  const schema = await createTestSchema(pgUrl!, 'lkb_bench_http');
  schemas.push(schema);
  return { config: `{ postgres: "${schema.url}" }`, url: schema.url };
}

/** Bans recorded for the addresses of setup `index`: each alert must be decided once. */
async function bansOf(storeUrl: string, index: number): Promise<number> {
  const client = new pg.Client({ connectionString: storeUrl });
  await client.connect();
  try {
    const prefix = `12.${index * 40}.`;
    const { rows } = await client.query('SELECT count(*)::int AS n FROM bans WHERE ip LIKE $1', [
      `${prefix}%`,
    ]);
    return rows[0].n;
  } finally {
    await client.end();
  }
}

const results: Result[] = [];
try {
  const sqlite = await serve(`{ sqlite: "${join(dir, 'lokiban.db')}" }`);
  results.push(await load('SQLite, 1 responder', 0, [sqlite], false));

  const soloStore = await postgresStore();
  const solo = await serve(soloStore.config);
  results.push({
    ...(await load('Postgres, 1 responder', 1, [solo], false)),
    bans: await bansOf(soloStore.url, 1),
  });

  const pairStore = await postgresStore();
  const pair = await Promise.all([serve(pairStore.config), serve(pairStore.config)]);
  const split = await load('Postgres, 2 responders, alerts split between them', 2, pair, false);
  results.push({ ...split, bans: await bansOf(pairStore.url, 2) });
  const both = await load('Postgres, 2 responders, every alert to both', 3, pair, true);
  results.push({ ...both, bans: await bansOf(pairStore.url, 3) });
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
  for (const schema of schemas) await schema.drop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ${CONNECTIONS} connections, ${DURATION_S} s per setup`,
);
console.log(
  '| setup | requests | deliveries/s | p50 ms | p99 ms | non-2xx | errors | bans in the database |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(
    `| ${r.setup} | ${r.requests} | ${r.perSecond} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.bans ?? '—'} |`,
  );
}
