import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { ApiBan } from '../src/shared/api-types';
import type { SeedOffence } from './seed';

const REPO = resolve(import.meta.dirname, '..', '..');

/** A lokiban responder started from the built CLI, with a throw-away SQLite store and tokens. */
export interface TestResponder {
  url: string;
  readToken: string;
  adminToken: string;
  /** Delivers the offences as Alertmanager would (webhook, batches of 500) firing since `startsAt`. */
  seed(offences: SeedOffence[], startsAt?: number): Promise<void>;
  /** Lifts the active bans of `ip` through the API, as an operator would. */
  unban(ip: string): Promise<void>;
  activeBans(query?: Record<string, string>): Promise<ApiBan[]>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Builds the responder (tsc) so the test runs the code on this branch, not a stale dist/. */
export async function buildResponder(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: REPO,
    },
  );
}

export async function startResponder(): Promise<TestResponder> {
  const dir = await mkdtemp(join(tmpdir(), 'lkb-plugin-responder-'));
  const port = await freePort();
  const token = (name: string) => `${name}-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const env = {
    ...process.env,
    LKB_TEST_WEBHOOK: token('webhook'),
    LKB_TEST_READ: token('read'),
    LKB_TEST_ADMIN: token('admin'),
  };
  const configPath = join(dir, 'lokiban.yaml');
  await writeFile(
    configPath,
    `server:
  listen: "127.0.0.1:${port}"
store:
  sqlite: ${JSON.stringify(join(dir, 'lokiban.db'))}
auth:
  webhook:
    bearer: "\${LKB_TEST_WEBHOOK}"
  api:
    tokens:
      - { name: grafana, token: "\${LKB_TEST_READ}", role: read }
      - { name: grafana-admin, token: "\${LKB_TEST_ADMIN}", role: admin }
logging: { level: warn }
# The seed makes up to 10,000 bans at once: no circuit breaker.
safety: { maxNewBansPerMinute: 0 }
defaults:
  bantime: 1h
  scope: origin
  ipv6prefix: 64
jails:
  sshd: { bantime: 1h }
  nginx-http-auth: { bantime: 30m }
  postfix-sasl: { bantime: -1 }
transport: dry-run
hosts:
  - { name: web1, address: 192.0.2.11, match: { host: web1 } }
  - { name: web2, address: 192.0.2.12, match: { host: web2 } }
  - { name: mail1, address: 192.0.2.13, match: { host: mail1 } }
`,
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [join(REPO, 'dist/cli/main.js'), 'serve', '--config', configPath],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`responder exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`responder did not become ready: ${stderr}`);
    await new Promise((done) => setTimeout(done, 100));
  }

  const api = async (path: string, init: RequestInit & { token: string }) => {
    const response = await fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
    });
    if (!response.ok)
      throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };

  return {
    url,
    readToken: env.LKB_TEST_READ,
    adminToken: env.LKB_TEST_ADMIN,
    async seed(offences, startsAtMs = Date.now() - 60_000) {
      const startsAt = new Date(startsAtMs).toISOString();
      for (let i = 0; i < offences.length; i += 500) {
        const alerts = offences.slice(i, i + 500).map((offence) => ({
          status: 'firing',
          labels: { alertname: 'LokibanOffence', ip: offence.ip, jail: offence.jail, host: offence.host },
          annotations: { summary: offence.summary, sample: offence.sample },
          startsAt,
          endsAt: '0001-01-01T00:00:00Z',
          fingerprint: `${offence.jail}-${offence.ip}-${startsAtMs}`,
        }));
        await api('/api/v1/webhook', {
          method: 'POST',
          token: env.LKB_TEST_WEBHOOK,
          body: JSON.stringify({
            version: '4',
            status: 'firing',
            receiver: 'lokiban',
            groupKey: `{}:{alertname="LokibanOffence"}-${i}`,
            groupLabels: { alertname: 'LokibanOffence' },
            commonLabels: {},
            commonAnnotations: {},
            externalURL: 'http://alertmanager:9093',
            truncatedAlerts: 0,
            alerts,
          }),
        });
      }
    },
    async unban(ip) {
      await api('/api/v1/unban', {
        method: 'POST',
        token: env.LKB_TEST_ADMIN,
        body: JSON.stringify({ ip, reason: 'repeat offender set-up' }),
      });
    },
    async activeBans(query = {}) {
      const params = new URLSearchParams({ active: 'true', limit: '100000', ...query });
      return ((await api(`/api/v1/bans?${params}`, { token: env.LKB_TEST_READ })) as { bans: ApiBan[] }).bans;
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((done) => setTimeout(done, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
