import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/port.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export const WEBHOOK_TOKEN = 'ha-webhook-token-0123456789abcdef';
export const ADMIN_TOKEN = 'ha-admin-token-0123456789abcdef';

/** The configuration every replica shares: only the listen address differs (given on the command line). */
export function writeReplicaConfig(dir: string, postgresUrl: string, extra = ''): string {
  const file = join(dir, 'lokiban.yaml');
  writeFileSync(
    file,
    `
store: { postgres: "${postgresUrl}" }
auth:
  webhook: { bearer: "${WEBHOOK_TOKEN}" }
  api: { tokens: [ { name: ops, token: "${ADMIN_TOKEN}", role: admin } ] }
logging: { level: warn }
# Bursts of thousands of new bans a minute: these tests are about replicas, not the circuit breaker.
safety: { maxNewBansPerMinute: 0 }
jails:
  sshd: {}
transport: dry-run
hosts:
  - { name: web1, address: 192.0.2.10 }
  - { name: web2, address: 192.0.2.11 }
${extra}
`,
  );
  return file;
}

/** A `lokiban serve` process, started as an operator would, on its own port. */
export class Responder {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly output: string[],
  ) {}

  static async start(config: string): Promise<Responder> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'serve', '--config', config, '--listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`lokiban serve exited ${child.exitCode}: ${output.join('')}`);
      const ready = await fetch(`${url}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return new Responder(child, url, output);
      if (Date.now() > deadline) throw new Error(`lokiban serve did not start: ${output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  webhook(alerts: unknown[]): Promise<Response> {
    return fetch(`${this.url}/api/v1/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify({ version: '4', status: 'firing', receiver: 'lokiban', alerts }),
    });
  }

  async readyStatus(): Promise<number> {
    return (await fetch(`${this.url}/readyz`)).status;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** An Alertmanager v4 alert for `ip`, firing since `startsAt`. */
export function firing(ip: string, startsAt: number, fingerprint: string) {
  return {
    status: 'firing',
    labels: { alertname: 'SshdBruteForce', jail: 'sshd', ip },
    annotations: { summary: `failed SSH logins from ${ip}` },
    startsAt: new Date(startsAt).toISOString(),
    endsAt: '0001-01-01T00:00:00Z',
    fingerprint,
  };
}
