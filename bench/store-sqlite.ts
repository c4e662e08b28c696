/**
 * Store-level benchmark of the SQLite store on a temp file (WAL, synchronous=FULL):
 * single-offence batches (one fsync each), duplicate batches, one 1,000-alert batch, the outbox
 * drain, and the process RSS with 100,000 active bans. Run: `node --expose-gc --import tsx bench/store-sqlite.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import type { BatchItem } from '../src/domain/types.js';
import { SqliteStore } from '../src/store/sqlite/store.js';

const config = parseConfig(
  `
auth: { webhook: { bearer: "bench-token-0123456789" } }
# Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
safety: { maxNewBansPerMinute: 0 }
jails: { sshd: {}, nginx: {} }
hosts: [ { name: web1, address: 192.0.2.1 }, { name: web2, address: 192.0.2.2 } ]
`,
  {},
);
const policy = buildDecisionPolicy(config, { localAddresses: [] });

let serial = 0;
function ipFor(n: number): string {
  return `100.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}
function offence(index: number): BatchItem {
  serial += 1;
  const ip = ipFor(serial);
  return {
    kind: 'offence',
    index,
    offence: {
      fingerprint: `bench-${serial}`,
      startsAt: 1_700_000_000_000 + serial,
      jail: serial % 2 ? 'sshd' : 'nginx',
      ip,
      reportedIp: ip,
      source: 'alertmanager',
      labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd', host: 'web1' },
      receivedAt: Date.now(),
      summary: `5 failed logins from ${ip}`,
    },
  };
}

async function timed<T>(label: string, count: number, run: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const result = await run();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(`${label}: ${count} in ${ms.toFixed(1)} ms = ${Math.round((count / ms) * 1000)}/s`);
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'lkb-store-bench-'));
const store = new SqliteStore(join(dir, 'bench.db'));
await store.init();
console.log(`RSS at start: ${Math.round(process.memoryUsage().rss / 1024 / 1024)} MB`);
try {
  const singles: BatchItem[][] = [];
  await timed('single-offence batches (new bans)', 2000, async () => {
    for (let i = 0; i < 2000; i++) {
      const batch = [offence(0)];
      singles.push(batch);
      await store.recordBatch(batch, policy, 'alertmanager');
    }
  });
  await timed('single-offence batches (duplicates)', 2000, async () => {
    for (const batch of singles) await store.recordBatch(batch, policy, 'alertmanager');
  });
  const group = Array.from({ length: 1000 }, (_, i) => offence(i));
  await timed('one 1,000-alert batch', 1000, () =>
    store.recordBatch(group, policy, 'alertmanager').then((result) => result.outcomes),
  );
  await timed('same 1,000-alert batch again (duplicates)', 1000, () =>
    store.recordBatch(group, policy, 'alertmanager').then((result) => result.outcomes),
  );
  await timed('outbox drain web1 (claim 500 + markApplied)', 3000, async () => {
    for (;;) {
      const items = await store.claimPending('web1', 500, Date.now());
      if (items.length === 0) break;
      await store.markApplied(items, Date.now());
    }
  });
  const fill = 100_000 - 3000;
  await timed('fill to 100,000 active bans (1,000-alert batches)', fill, async () => {
    for (let done = 0; done < fill; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, fill - done) }, (_, i) => offence(i));
      await store.recordBatch(batch, policy, 'alertmanager');
    }
  });
  global.gc?.();
  const rss = Math.round(process.memoryUsage().rss / 1024 / 1024);
  const heap = Math.round(process.memoryUsage().heapUsed / 1024 / 1024);
  console.log(
    `RSS with 100,000 active bans recorded (before listing them): ${rss} MB (JS heap used ${heap} MB)`,
  );
  const active = await timed('listBans active (100,000)', 100_000, () =>
    store.listBans({ active: true, limit: 100_000 }, Date.now()),
  );
  console.log(`active bans: ${active.length}`);
  await timed('desiredForHost web2', 100_000, () => store.desiredForHost('web2', Date.now()));
  await timed('stats over the last day', 100_000, () =>
    store.stats({ from: Date.now() - 86_400_000, to: Date.now() + 1, bucketMs: 3_600_000 }, Date.now()),
  );
  console.log(`RSS after listing all of them: ${Math.round(process.memoryUsage().rss / 1024 / 1024)} MB`);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
