/**
 * HTTP benchmark of the responder: a real `lokiban serve` process (the built JavaScript, SQLite
 * store, dry-run transport, two hosts) loaded with autocannon over loopback.
 *
 *   npm run build && node --import tsx bench/webhook-http.ts [BUILD_DIR ...]
 *
 * Each BUILD_DIR (default `dist`) is a compiled tree holding cli/main.js, optionally followed by
 * `@` and node options for the server (`dist@--max-semi-space-size=4`); several are measured one
 * after the other in one run, so a before/after comparison shares the machine's conditions.
 * Environment:
 *   BENCH_PIN=1          server on CPU 0, this process (autocannon) on CPU 1 (needs taskset)
 *   BENCH_ONLY=a,b       only these scenarios: fresh, duplicate, group, fill
 *   BENCH_NODE_ARGS=...  extra node options for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
 *   BENCH_ROUNDS=n       measure the builds n times, alternating (default 1)
 *   BENCH_HEAP_SNAPSHOT=1  signal the server (SIGUSR2) for a heap snapshot once it holds 100,000 bans
 *   BENCH_DETECT=1       turn on detect.loki (a Loki that refuses connections), so every delivery
 *                        also looks up the tail's bursts (docs/streaming.md)
 *
 * Results are written down in bench/webhook-http.md.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../test/support/port.js';

const TOKEN = 'bench-webhook-token-0123456789';
const ADMIN = 'bench-admin-token-0123456789';
const builds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['dist'];
const only = new Set((process.env.BENCH_ONLY ?? 'fresh,duplicate,group,fill').split(','));
const pin = process.env.BENCH_PIN === '1';
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
if (pin) {
  // Children inherit the affinity; the server is moved to CPU 0 when it is spawned.
  execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
}

/** Addresses 11.0.0.1, 11.0.0.2, …: public, not allowlisted, unique per counter value. */
function ipFor(n: number): string {
  return `11.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function group(ips: string[], startsAt: string): string {
  return JSON.stringify({
    version: '4',
    receiver: 'lokiban',
    status: 'firing',
    groupKey: '{}:{alertname="SshdBruteForce"}',
    groupLabels: { alertname: 'SshdBruteForce' },
    commonLabels: { alertname: 'SshdBruteForce', jail: 'sshd' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    truncatedAlerts: 0,
    alerts: ips.map((ip) => ({
      status: 'firing',
      labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd', host: 'web1', severity: 'warning' },
      annotations: {
        summary: `5 failed SSH logins from ${ip} on web1`,
        description: `Failed password for root from ${ip} port 4242 ssh2`,
      },
      startsAt,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://loki:3100/graph?g0.expr=x',
    })),
  });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  return Math.round(kb / 1024);
}

function load(): string {
  return loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
}

async function measure(spec: string): Promise<Array<[string, string]>> {
  const [build = 'dist', ...options] = spec.split('@');
  const serverArgs = [...nodeArgs, ...options.flatMap((option) => option.split(' ')).filter(Boolean)];
  const dir = mkdtempSync(join(tmpdir(), 'lokiban-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dir, 'lokiban.yaml');
  writeFileSync(
    configFile,
    `server: { listen: "127.0.0.1:${port}", bodyLimit: 4194304 }
store: { sqlite: "${join(dir, 'lokiban.db')}" }
auth:
  webhook: { bearer: "${TOKEN}" }
  api: { tokens: [ { name: bench, token: "${ADMIN}", role: admin } ] }
logging: { level: warn }
jails:
  sshd: { bantime: 1h }
transport: dry-run
hosts:
  - { name: web1, address: 192.0.2.10 }
  - { name: web2, address: 192.0.2.11 }
${process.env.BENCH_DETECT === '1' ? 'detect: { loki: { url: "http://127.0.0.1:9" } }\n' : ''}`,
  );
  const command = [
    process.execPath,
    ...serverArgs,
    join(build, 'cli/main.js'),
    'serve',
    '--config',
    configFile,
  ];
  const server: ChildProcess = pin
    ? spawn('taskset', ['-c', '0', ...command], { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    const results: Array<[string, string]> = [['load average at start', load()]];
    results.push(['RSS at start', `${rssMb(server.pid!)} MB`]);
    let next = 1_000_000;

    // 1. Single-alert deliveries, each a new offence (a new ban: one durable transaction each).
    let counter = 0;
    const startsAt = new Date().toISOString();
    if (only.has('fresh')) {
      const fresh = await autocannon({
        url,
        connections: 16,
        duration: 10,
        requests: [
          {
            method: 'POST',
            path: '/api/v1/webhook',
            headers,
            setupRequest: (request) => ({ ...request, body: group([ipFor(++counter)], startsAt) }),
          },
        ],
      });
      results.push([
        'single-alert deliveries, new offences',
        `${Math.round(fresh.requests.average)}/s (p99 ${fresh.latency.p99} ms, non-2xx ${fresh.non2xx}, errors ${fresh.errors})`,
      ]);
    }

    // 2. The same delivery again and again: every alert a duplicate.
    if (only.has('duplicate')) {
      const duplicateBody = group([ipFor(1)], startsAt);
      // The first delivery records it (when the fresh scenario did not run), the rest are repeats.
      await fetch(`${url}/api/v1/webhook`, { method: 'POST', headers, body: duplicateBody });
      const duplicate = await autocannon({
        url,
        connections: 16,
        duration: 10,
        requests: [{ method: 'POST', path: '/api/v1/webhook', headers, body: duplicateBody }],
      });
      results.push([
        'single-alert deliveries, duplicates',
        `${Math.round(duplicate.requests.average)}/s (p99 ${duplicate.latency.p99} ms, non-2xx ${duplicate.non2xx}, errors ${duplicate.errors})`,
      ]);
    }

    // 3. A 1,000-alert group of new offences, answered once durable; five groups, each fresh.
    if (only.has('group')) {
      const timings: number[] = [];
      for (let run = 0; run < 5; run++) {
        const ips = Array.from({ length: 1000 }, () => ipFor(next++));
        const body = group(ips, new Date().toISOString());
        const started = performance.now();
        const response = await fetch(`${url}/api/v1/webhook`, { method: 'POST', headers, body });
        await response.arrayBuffer();
        timings.push(performance.now() - started);
        if (!response.ok) throw new Error(`group delivery failed: HTTP ${response.status}`);
      }
      timings.sort((a, b) => a - b);
      results.push([
        '1,000-alert group, new offences, durable answer',
        `median ${timings[2]!.toFixed(1)} ms (min ${timings[0]!.toFixed(1)}, max ${timings[4]!.toFixed(1)})`,
      ]);
    }

    // 4. Fill to 100,000 active bans in 1,000-alert groups, then measure the server's RSS.
    if (only.has('fill')) {
      const activeNow = async () => {
        const response = await fetch(`${url}/metrics`);
        const text = await response.text();
        return Number(/lokiban_active_bans\{jail="sshd"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      let active = await activeNow();
      const fillStart = performance.now();
      const fillFrom = active;
      while (active < 100_000) {
        const ips = Array.from({ length: Math.min(1000, 100_000 - active) }, () => ipFor(next++));
        const response = await fetch(`${url}/api/v1/webhook`, {
          method: 'POST',
          headers,
          body: group(ips, new Date().toISOString()),
        });
        await response.arrayBuffer();
        active += ips.length;
      }
      const fillSeconds = (performance.now() - fillStart) / 1000;
      results.push([
        'filling to 100,000 active bans over HTTP',
        `${Math.round((active - fillFrom) / fillSeconds)} alerts/s`,
      ]);
      results.push(['active bans (from /metrics)', String(await activeNow())]);
      // A Prometheus scrape counts the active bans: it runs on the event loop webhooks share.
      const scrapes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = performance.now();
        await (await fetch(`${url}/metrics`)).text();
        scrapes.push(performance.now() - started);
      }
      scrapes.sort((a, b) => a - b);
      results.push(['GET /metrics with 100,000 active bans', `median ${scrapes[2]!.toFixed(1)} ms`]);
      if (process.env.BENCH_HEAP_SNAPSHOT) {
        // With --heapsnapshot-signal=SIGUSR2 in BENCH_NODE_ARGS the server writes a snapshot (after a full GC).
        server.kill('SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 8000));
      }
      const memory = async (label: string) => {
        results.push([`RSS with 100,000 active bans${label}`, `${rssMb(server.pid!)} MB`]);
        const metrics = await (await fetch(`${url}/metrics`)).text();
        const mb = (name: string) =>
          Math.round(Number(new RegExp(`lokiban_${name} (\\d+)`).exec(metrics)?.[1] ?? 0) / 1048576);
        results.push([
          `JS heap used / total, external${label}`,
          `${mb('nodejs_heap_size_used_bytes')} / ${mb('nodejs_heap_size_total_bytes')} MB, ${mb('nodejs_external_memory_bytes')} MB`,
        ]);
      };
      await memory('');
      // V8 gives memory back once allocation stops (its memory reducer): this is the resting figure.
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      await memory(', after 15 s idle');
    }
    results.push(['load average at end', load()]);
    return results;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.on('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}${pin ? ', pinned' : ''}`,
);
for (let round = 0; round < rounds; round++) {
  for (const build of builds) {
    console.log(`\n${build} (round ${round + 1})`);
    for (const [name, value] of await measure(build)) console.log(`${name.padEnd(50)} ${value}`);
  }
}
