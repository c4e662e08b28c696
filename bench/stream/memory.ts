/**
 * The tail path's memory bound and line rate, no network:
 *   - 400,000 sshd failure lines from 100,000 addresses through StreamDetector.process: lines/s and
 *     the heap the 100,000 windows hold (V8 heap after GC);
 *   - 1,000,000 distinct addresses through a 100,000-window cap: time in the window structure.
 * Run: `node --expose-gc --import tsx bench/stream/memory.ts`
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.js';
import { loadCatalogue } from '../../src/logql/catalogue.js';
import { DEFAULT_CATALOGUE } from '../../src/logql/toolkit.js';
import { StreamDetector } from '../../src/stream/detector.js';
import { SlidingWindows } from '../../src/stream/windows.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const config = parseConfig(
  JSON.stringify({
    auth: { webhook: { bearer: 'bench-webhook-token-0123456789' } },
    jails: { sshd: {} },
    detect: { loki: { url: 'http://127.0.0.1:1' } },
  }),
  {},
);
let registry: Registry | undefined = new Registry();
let detector: StreamDetector | undefined = new StreamDetector({
  config: { jails: config.jails, labels: config.labels, detect: { loki: config.detect!.loki! } },
  catalogue: loadCatalogue(DEFAULT_CATALOGUE),
  record: async () => [],
  logger: pino({ level: 'silent' }),
  registry,
  now: () => 1_800_000_000_000,
});
const group = detector.groups[0]!;
const started = performance.now();
for (let i = 0; i < 100_000; i++) {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  // Four lines each: one short of sshd's maxretry, so every address stays a tracked window.
  const lines = Array.from({ length: 4 }, (_, k) => ({
    labels: { job: 'sshd', host: 'web1' },
    ns: `${1_800_000_000_000 + i * 10 + k}000000`,
    line: `Failed password for invalid user admin from ${ip} port ${40000 + k} ssh2`,
  }));
  detector!.process(group, lines, 'live');
}
const elapsed = performance.now() - started;
// Measured as what letting go of the detector frees: the heap before the loop still held start-up
// garbage (module compilation) that a GC there did not always reclaim.
const withWindows = heap();
// Read through the detector, so it is provably alive up to here.
const tracked = (await registry.getSingleMetricAsString('lokiban_tail_tracked_addresses')).split(' ').at(-1);
detector = undefined;
registry = undefined;
const held = withWindows - heap();
console.log(
  `detector: 400,000 lines from 100,000 addresses in ${elapsed.toFixed(0)} ms (${Math.round(400_000 / (elapsed / 1000))} lines/s); ${tracked} windows: ${(held / 1e6).toFixed(1)} MB, ${Math.round(held / 100_000)} B each`,
);

const windows = new SlidingWindows<null>(100_000);
const rule = { findtimeMs: 600_000, maxretry: 5 };
const keys = Array.from({ length: 1_000_000 }, (_, i) => `sshd\nflood-${i}\nweb1`);
const floodStart = performance.now();
for (let i = 0; i < keys.length; i++) windows.add(keys[i]!, i, rule, null);
console.log(
  `flood: 1,000,000 distinct keys through a 100,000 cap in ${(performance.now() - floodStart).toFixed(0)} ms, ${windows.evictions} evictions`,
);
