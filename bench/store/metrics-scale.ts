/**
 * `/metrics` at scale: N active bans (default 1,000,000) in a SQLite store, then the Prometheus
 * registry lokiban serves at /metrics rendered 7 times; each render's time and the event loop's
 * longest delay meanwhile (the store is synchronous: a slow query holds every webhook behind it).
 * Run: `node --import tsx bench/store/metrics-scale.ts [bans]`
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
import { createMetrics } from '../../src/http/metrics.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const total = Number(process.argv[2] ?? 1_000_000);
const jails = ['sshd', 'nginx-http-auth', 'postfix', 'dovecot'];
const dir = mkdtempSync(join(tmpdir(), 'lkb-metrics-scale-'));
const config = parseConfig(
  JSON.stringify({
    store: { sqlite: join(dir, 'lokiban.db') },
    auth: { webhook: { bearer: 'metrics-scale-token-0123456789' } },
    defaults: { bantime: '1d', ignoreip: [] },
    jails: Object.fromEntries(jails.map((j) => [j, {}])),
    hosts: [{ name: 'web1', address: '192.0.2.1' }],
  }),
  {},
);
const store = new SqliteStore(join(dir, 'lokiban.db'));
await store.init();
const policy = buildDecisionPolicy(config, { localAddresses: [] });

const ipFor = (n: number) => `${10 + (n >> 24)}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const started = performance.now();
for (let done = 0; done < total; done += 10_000) {
  const now = Date.now();
  const items: BatchItem[] = Array.from({ length: Math.min(10_000, total - done) }, (_, index) => {
    const ip = ipFor(done + index + 1);
    const jail = jails[(done + index) % jails.length]!;
    return {
      kind: 'offence' as const,
      index,
      offence: {
        fingerprint: `scale-${done + index}`,
        startsAt: now,
        jail,
        ip,
        reportedIp: ip,
        source: 'alertmanager' as const,
        labels: { ip, jail },
        receivedAt: now,
      },
    };
  });
  await store.recordBatch(items, policy, 'alertmanager');
}
console.log(`recorded ${total} bans in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const metrics = createMetrics({ store, now: Date.now });
const times: number[] = [];
const delays: number[] = [];
for (let i = 0; i < 7; i++) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The monitor's first tick only sets its baseline: let it pass before the render.
  await new Promise((r) => setTimeout(r, 10));
  const begin = performance.now();
  const text = await metrics.registry.metrics();
  times.push(performance.now() - begin);
  // Let the monitor's timer fire once after the render, so the delay it caused is recorded.
  await new Promise((r) => setTimeout(r, 20));
  histogram.disable();
  delays.push(histogram.max / 1e6);
  if (i === 0) {
    const active = text
      .split('\n')
      .filter((line) => line.startsWith('lokiban_active_bans{'))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    if (active !== total) throw new Error(`lokiban_active_bans sums to ${active}, expected ${total}`);
  }
}
const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
const mmm = (v: number[]) => {
  const s = sorted(v);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)} / ${s.at(-1)!.toFixed(1)} ms`;
};
console.log(
  `/metrics at ${total} active bans, 7 renders: min/median/max ${mmm(times)}; longest event-loop delay ${mmm(delays)}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
