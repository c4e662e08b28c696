/**
 * The tail path's own share of "log line → dropped on every host": a tail frame carrying the
 * maxretry-th failure is written by the Loki double → the responder matches it, records the offence
 * (SQLite, one fsync) and the dispatcher commits the element over SSH on every namespace host.
 * The clock starts when the frame is written to the responder's socket and stops when every host's
 * `nft -f -` for it has exited 0; each sample is then checked with `nft get element` on every host.
 * Run as root: `node --import tsx bench/stream/stream.ts [hosts…]` (default: 1 3).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { createEnforcement, type Enforcement } from '../../src/enforce/index.js';
import { startServer } from '../../src/server.js';
import { startLokiDouble } from '../../test/support/loki-double.js';
import { createTestHost, type TestHost } from '../../test/support/netns.js';

const SAMPLES = 120;
const WARMUP = 20;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;

function present(host: TestHost, ip: string): boolean {
  try {
    host.nft(['get', 'element', 'inet', 'lokiban', 'banned4', `{ ${ip} }`]);
    return true;
  } catch {
    return false;
  }
}

async function run(hostCount: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-stream-bench-'));
  const hosts: TestHost[] = [];
  for (let i = 0; i < hostCount; i++) hosts.push(await createTestHost({ name: `bench${i + 1}` }));
  // Lines reach the tail 0.5 s after the push, as recorded from Loki 2.7.5 (tail_01).
  const loki = await startLokiDouble({ lineDelayMs: 500 });
  const config = parseConfig(
    JSON.stringify({
      server: { listen: '127.0.0.1:0' },
      store: { sqlite: join(dir, 'lokiban.db') },
      auth: { webhook: { bearer: 'bench-webhook-token-0123456789' } },
      logging: { level: 'warn' },
      defaults: { bantime: '1d', ignoreip: [] },
      // Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
      safety: { maxNewBansPerMinute: 0 },
      jails: { sshd: {} },
      transport: 'ssh',
      hosts: hosts.map((h) => ({ ...h.config, match: {} })),
      enforcement: { reconcileInterval: 3600 },
      detect: { loki: { url: loki.url } },
    }),
    {},
  );
  let enforcement: Enforcement | undefined;
  const server = await startServer(config, {
    enforcement: ({ store, logger }) => {
      enforcement = createEnforcement(config, store, logger, { owner: 'bench' });
      return enforcement;
    },
  });
  let frameAt = 0;
  let frameWall = 0;
  let waitingFor = '';
  loki.onFrame = (payload) => {
    if (waitingFor && payload.includes(waitingFor)) {
      frameAt = performance.now();
      frameWall = Date.now();
    }
  };
  try {
    while (loki.openTails() === 0) await new Promise((r) => setTimeout(r, 20));
    const samples: number[] = [];
    const fromPush: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const ip = `100.64.${hostCount}.${i + 1}`;
      waitingFor = `from ${ip} port 40004`;
      frameAt = 0;
      const now = Date.now();
      const pushedAt = performance.now();
      // One push, one frame: the fifth line in it is the maxretry-th.
      loki.push(
        Array.from({ length: 5 }, (_, n) => ({
          labels: { job: 'sshd', host: 'bench' },
          ns: (BigInt(now) * 1_000_000n + BigInt(n)).toString(),
          line: `Failed password for root from ${ip} port ${40000 + n} ssh2`,
        })),
      );
      while (frameAt === 0) await new Promise((r) => setImmediate(r));
      while (!enforcement!.status.hosts().every((h) => (h.lastAppliedAt ?? 0) >= frameWall)) {
        await new Promise((r) => setImmediate(r));
      }
      const done = performance.now();
      const elapsed = done - frameAt;
      if (!hosts.every((h) => present(h, ip))) throw new Error(`${ip} missing after its batch was applied`);
      if (i >= WARMUP) {
        samples.push(elapsed);
        fromPush.push(done - pushedAt);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const hostsText = `${hostCount} host${hostCount > 1 ? 's' : ''}`;
    for (const [what, list] of [
      ['tail frame written → element committed on every host', samples],
      ['line pushed to Loki → element committed on every host', fromPush],
    ] as const) {
      list.sort((a, b) => a - b);
      console.log(
        `${hostsText}: ${what}, n=${list.length}: p50 ${percentile(list, 0.5).toFixed(1)} ms, p99 ${percentile(list, 0.99).toFixed(1)} ms, max ${list.at(-1)!.toFixed(1)} ms`,
      );
    }
  } finally {
    await server.close();
    await loki.close();
    for (const host of hosts) await host.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const counts = process.argv.slice(2).map(Number);
for (const count of counts.length > 0 ? counts : [1, 3]) await run(count);
