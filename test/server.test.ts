import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/server.js';
import { ADMIN_TOKEN, testConfig, testConfigYaml, WEBHOOK_TOKEN } from './support/config.js';
import { freePort } from './support/port.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-server-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const alert = (ip: string, startsAt: string) =>
  JSON.stringify({
    version: '4',
    status: 'firing',
    receiver: 'lokiban',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd' },
        annotations: {},
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
      },
    ],
  });

async function post(url: string, body: string) {
  return fetch(`${url}/api/v1/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
    body,
  });
}

async function activeBans(url: string) {
  const response = await fetch(`${url}/api/v1/bans?active=true`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return ((await response.json()) as { bans: Array<{ ip: string; expiresAt: string }> }).bans;
}

/**
 * `lokiban serve` as an operator starts it, with `args` after `serve`; its output is collected and it
 * is killed after the file's tests if it is still running.
 */
function serve(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output.stderr += chunk;
  });
  return {
    child,
    output,
    exited,
    /** Waits up to 25 s for the "listening on" line, or less if the process exits first. */
    async listening(): Promise<void> {
      for (let i = 0; i < 250 && !output.stderr.includes('listening on'); i++) {
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

describe('startServer', () => {
  it('keeps an acknowledged ban and its expiry across a restart on the same database', async () => {
    const config = testConfig({ store: `{ sqlite: "${join(dir, 'restart.db')}" }` });
    const first = await startServer(config, { listen: '127.0.0.1:0' });
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await post(first.url, alert('203.0.113.77', new Date().toISOString()));
    expect(response.status).toBe(200);
    const before = await activeBans(first.url);
    expect(before.map((ban) => ban.ip)).toEqual(['203.0.113.77']);
    await first.close();
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

    const second = await startServer(config, { listen: '127.0.0.1:0' });
    try {
      expect(await activeBans(second.url)).toEqual(before);
      expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
      // The Explore link of each ban runs its jail's pipeline, rendered from the catalogue.
      const jails = (await (
        await fetch(`${second.url}/api/v1/jails`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
      ).json()) as { jails: Array<{ name: string; logqlParts?: string[]; ipLabel: string }> };
      const sshd = jails.jails.find((jail) => jail.name === 'sshd') as {
        logqlParts: string[];
        ipLabel: string;
      };
      expect(sshd.ipLabel).toBe('ip');
      expect(sshd.logqlParts.length).toBeGreaterThan(0);
      for (const pipeline of sshd.logqlParts) {
        expect(pipeline).toMatch(/^\{job="sshd"\} .*\| regexp `\^.*\| label_format jail=`sshd`$/);
      }
    } finally {
      await second.close();
    }
  });

  it('runs an enforcement runtime: started after listen, notified after durable bans, stopped before the store closes', async () => {
    const config = testConfig({ store: `{ sqlite: "${join(dir, 'runtime.db')}" }` });
    const events: string[] = [];
    const server = await startServer(config, {
      listen: '127.0.0.1:0',
      enforcement: ({ store, logger }) => {
        expect(typeof logger.info).toBe('function');
        return {
          status: {
            hosts: () => [
              {
                name: 'web1',
                state: 'up',
                queueDepth: 0,
                lastError: null,
                lastAppliedAt: null,
                lastReconcile: null,
                setAside: { count: 0, examples: [] },
                reconcileHeld: null,
              },
            ],
          },
          notify: (hosts) => events.push(`notify ${[...(hosts ?? [])].join(',')}`),
          start: () => events.push('start'),
          stop: async () => {
            // The store is still open while the runtime stops: a dispatcher can finish its batch.
            await store.ping();
            events.push('stop');
          },
        };
      },
    });
    expect(events).toEqual(['start']);
    expect((await post(server.url, alert('203.0.113.79', new Date().toISOString()))).status).toBe(200);
    expect(events).toEqual(['start', 'notify web1,web2']);
    const hosts = await fetch(`${server.url}/api/v1/hosts`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    // The configuration runs the dry-run transport: a host its runtime calls up is reported dry-run.
    expect(((await hosts.json()) as { hosts: Array<{ state: string }> }).hosts.map((h) => h.state)).toEqual([
      'dry-run',
      'unknown',
    ]);
    await server.close();
    expect(events).toEqual(['start', 'notify web1,web2', 'stop']);
    await expect(server.store.ping()).rejects.toThrow();
  });

  it('fails clearly when the port is taken, and releases the store', async () => {
    const config = testConfig({ store: `{ sqlite: "${join(dir, 'busy.db')}" }` });
    const holder = await startServer(config, { listen: '127.0.0.1:0' });
    try {
      await expect(startServer(config, { listen: holder.url.replace('http://', '') })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await holder.close();
    }
  });
});

describe('lokiban serve (the CLI process)', () => {
  it('starts from a config and env file, serves, and shuts down gracefully on SIGTERM', async () => {
    const port = await freePort();
    const configFile = join(dir, 'serve.yaml');
    writeFileSync(
      configFile,
      testConfigYaml({
        store: `{ sqlite: "${join(dir, 'serve.db')}" }`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} syntax
        webhook: '{ bearer: "${LOKIBAN_WEBHOOK_TOKEN}" }',
      }),
    );
    const envFile = join(dir, 'serve.env');
    writeFileSync(envFile, `LOKIBAN_WEBHOOK_TOKEN=${WEBHOOK_TOKEN}\n`, { mode: 0o600 });
    const env = { ...process.env };
    delete env.LOKIBAN_WEBHOOK_TOKEN;
    const cli = serve(['--config', configFile, '--env-file', envFile, '--listen', `127.0.0.1:${port}`], env);
    const url = `http://127.0.0.1:${port}`;
    await cli.listening();
    expect(cli.output.stderr).toContain(`lokiban listening on ${url}`);
    expect((await post(url, alert('203.0.113.78', new Date().toISOString()))).status).toBe(200);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const lines = cli.output.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg: string });
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['lokiban listening', 'webhook processed', 'shutting down']),
    );
    expect(cli.output.stdout).not.toContain(WEBHOOK_TOKEN);
  }, 60_000);

  it('logs a warning when a scope-origin jail cannot name the host and bans on every host', async () => {
    const port = await freePort();
    const configFile = join(dir, 'origin.yaml');
    const yaml = testConfigYaml({ store: `{ sqlite: "${join(dir, 'origin.db')}" }` });
    writeFileSync(configFile, yaml.replace('defaults:\n', 'defaults:\n  scope: origin\n'));
    const cli = serve(['--config', configFile, '--listen', `127.0.0.1:${port}`]);
    await cli.listening();
    // The alerts carry no host label: scope origin has nothing to match. Two deliveries, one warning.
    expect(
      (await post(`http://127.0.0.1:${port}`, alert('203.0.113.81', new Date().toISOString()))).status,
    ).toBe(200);
    expect(
      (await post(`http://127.0.0.1:${port}`, alert('203.0.113.80', new Date().toISOString()))).status,
    ).toBe(200);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const warnings = cli.output.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string; jail?: string; reason?: string })
      .filter((line) => line.msg === 'scope origin fell back to every host');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, jail: 'sshd', reason: 'the alert has no host label' });
  }, 60_000);

  it('exits 1 with one clear line when the port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const configFile = join(dir, 'busy.yaml');
    writeFileSync(configFile, testConfigYaml({ store: `{ sqlite: "${join(dir, 'busy-cli.db')}" }` }));
    const cli = serve(['--config', configFile, '--listen', `127.0.0.1:${port}`]);
    const code = await cli.exited;
    await new Promise((resolve) => holder.close(resolve));
    expect(code).toBe(1);
    expect(cli.output.stderr.trim()).toMatch(/^error: cannot start: .*EADDRINUSE/);
    expect(cli.output.stderr).not.toContain('    at ');
  });

  it('exits 2 naming the problem for an invalid configuration', async () => {
    const configFile = join(dir, 'invalid.yaml');
    writeFileSync(configFile, 'server: { listen: nowhere }\n');
    const cli = serve(['--config', configFile]);
    const code = await cli.exited;
    expect(code).toBe(2);
    expect(cli.output.stderr).toContain('server.listen: expected HOST:PORT');
    expect(cli.output.stderr).toContain('auth: ');
  });
});
