/**
 * HTTP benchmark of the responder: a real `lokiban serve` process (the built JavaScript, SQLite
 * store, dry-run transport, two hosts) loaded with autocannon over loopback.
 *
 *   npm run build && node --import tsx bench/webhook-http.ts
 *
 * Results are written down in bench/webhook-http.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const TOKEN = 'bench-webhook-token-0123456789';
const ADMIN = 'bench-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'lokiban-bench-'));

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
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

async function main(): Promise<void> {
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
`,
  );
  const server: ChildProcess = spawn(
    process.execPath,
    ['dist/cli/main.js', 'serve', '--config', configFile],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    const results: Array<[string, string]> = [];
    results.push(['RSS at start', `${rssMb(server.pid!)} MB`]);

    // 1. Single-alert deliveries, each a new offence (a new ban: one durable transaction each).
    let counter = 0;
    const startsAt = new Date().toISOString();
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

    // 2. The same delivery again and again: every alert a duplicate.
    const duplicateBody = group([ipFor(1)], startsAt);
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

    // 3. A 1,000-alert group of new offences, answered once durable; five groups, each fresh.
    const timings: number[] = [];
    let next = 1_000_000;
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

    // 4. Fill to 100,000 active bans in 1,000-alert groups, then measure the server's RSS.
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
    results.push(['RSS with 100,000 active bans', `${rssMb(server.pid!)} MB`]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const heapUsed = Number(/lokiban_nodejs_heap_size_used_bytes (\d+)/.exec(metrics)?.[1] ?? 0);
    const heapTotal = Number(/lokiban_nodejs_heap_size_total_bytes (\d+)/.exec(metrics)?.[1] ?? 0);
    results.push([
      'JS heap with 100,000 active bans (used / total)',
      `${Math.round(heapUsed / 1048576)} MB / ${Math.round(heapTotal / 1048576)} MB`,
    ]);

    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`);
    for (const [name, value] of results) console.log(`${name.padEnd(50)} ${value}`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.on('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
