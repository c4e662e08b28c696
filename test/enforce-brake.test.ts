import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, type CliIo } from '../src/cli/io.js';
import { buildProgram } from '../src/cli/program.js';
import { type Config, parseConfig } from '../src/config/load.js';
import { createEnforcement, createEnforcer } from '../src/enforce/index.js';
import { type RunningServer, startServer } from '../src/server.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { waitForValue } from './support/wait.js';

/**
 * The reconcile brake with real parts: a namespace host whose nftables set holds the bans an earlier
 * store wrote, and a responder started on a new, empty SQLite file (the missing or relocated database
 * of a bad restart).
 */
const ADMIN_TOKEN = 'brake-admin-token-0123456789abcdef';
const OLD_BANS = 300;

const waitFor = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  waitForValue(what, check, { timeoutMs, everyMs: 100 });

async function cli(args: string[], url: string): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { LOKIBAN_URL: url, LOKIBAN_TOKEN: ADMIN_TOKEN },
  };
  try {
    await buildProgram(io)
      .exitOverride()
      .parseAsync(['node', 'lokiban', ...args]);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    err.push(error.message);
  }
  return { out: out.join('\n'), err: err.join('\n') };
}

interface HostJson {
  name: string;
  lastReconcile: { removed: number } | null;
  reconcileHeld: { wouldRemove: number; present: number; since: string } | null;
}

describe('reconcile brake: a fresh store never unbans a host it did not write', () => {
  let dir: string;
  let host: TestHost;
  let config: Config;
  let server: RunningServer;
  const oldIps = Array.from(
    { length: OLD_BANS },
    (_, i) => `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`,
  );

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const web1 = async () =>
    ((await api('GET', '/api/v1/hosts')).body.hosts as HostJson[]).find((h) => h.name === 'web1')!;
  const onHost = () => new Set(host.list(4).map((e) => e.ip));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-enf-brake-'));
    host = await createTestHost({ name: 'web1' });
    config = parseConfig(
      JSON.stringify({
        server: { listen: '127.0.0.1:0' },
        store: { sqlite: join(dir, 'new.db') },
        auth: {
          webhook: { bearer: 'brake-webhook-token-0123456789abcdef' },
          api: { tokens: [{ name: 'ops', token: ADMIN_TOKEN, role: 'admin' }] },
        },
        jails: { sshd: { bantime: '1h' } },
        transport: 'ssh',
        hosts: [host.config],
        enforcement: { retryMin: 1, commandTimeout: 10, flushInterval: 1, reconcileInterval: 2 },
      }),
      {},
    );
    // What the earlier store left on the host, written the way lokiban writes it.
    const earlier = createEnforcer(config);
    try {
      await earlier.setup(host.config);
      await earlier.apply(host.config, {
        add: oldIps.map((ip) => ({ ip, family: 4 as const, jail: 'sshd', timeoutSeconds: 3600 })),
        remove: [],
      });
    } finally {
      await earlier.close();
    }
    expect(onHost().size).toBe(OLD_BANS);
    server = await startServer(config, {
      enforcement: ({ store, logger }) => createEnforcement(config, store, logger),
    });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the removals, keeps banning and unbanning, and removes only once confirmed', async () => {
    const held = await waitFor('the hold', async () => (await web1()).reconcileHeld ?? undefined);
    expect(held).toMatchObject({ wouldRemove: OLD_BANS, present: OLD_BANS });
    expect(onHost().size).toBe(OLD_BANS);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`lokiban_host_reconcile_held{host="web1"} ${OLD_BANS}`);

    // New bans still reach the host, and lokiban lifting its own ban is not held.
    expect((await api('POST', '/api/v1/bans', { ip: '203.0.113.5', jail: 'sshd' })).status).toBe(201);
    await waitFor('the new ban', async () => (onHost().has('203.0.113.5') ? true : undefined));
    expect((await api('POST', '/api/v1/unban', { ip: '203.0.113.5' })).status).toBe(200);
    await waitFor('the unban', async () => (onHost().has('203.0.113.5') ? undefined : true));

    // Further reconciles (every 2 s) keep holding: the same hold, nothing removed.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    expect((await web1()).reconcileHeld).toEqual(held);
    expect(onHost().size).toBe(OLD_BANS);

    const shown = await cli(['hosts', 'reconcile', 'web1'], server.url);
    expect(shown.out).toMatch(
      new RegExp(`web1: reconcile removals HELD since .* would remove ${OLD_BANS} of ${OLD_BANS} elements`),
    );
    const confirmed = await cli(['hosts', 'reconcile', '--confirm', 'web1'], server.url);
    expect(confirmed.err).toBe('');
    expect(confirmed.out).toBe(`web1: reconciled, removed ${OLD_BANS}, added 0, retimed 0`);
    expect(onHost().size).toBe(0);
    expect((await web1()).reconcileHeld).toBeNull();
    const again = await cli(['hosts', 'reconcile', '--confirm', 'web1'], server.url);
    expect(again.err).toMatch(/no reconcile removals are held/);
  }, 60_000);

  it('still repairs a small drift on its own', async () => {
    const wanted = Array.from({ length: 10 }, (_, i) => `203.0.113.${i + 20}`);
    for (const ip of wanted)
      expect((await api('POST', '/api/v1/bans', { ip, jail: 'sshd' })).status).toBe(201);
    await waitFor('the bans', async () => (wanted.every((ip) => onHost().has(ip)) ? true : undefined));
    const strays = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
    host.nft([
      'add',
      'element',
      'inet',
      'lokiban',
      'banned4',
      `{ ${strays.map((ip) => `${ip} timeout 1h`).join(', ')} }`,
    ]);
    expect(strays.every((ip) => onHost().has(ip))).toBe(true);
    await waitFor('the strays to go', async () => (strays.some((ip) => onHost().has(ip)) ? undefined : true));
    expect([...onHost()].sort()).toEqual([...wanted].sort());
    expect((await web1()).reconcileHeld).toBeNull();
  }, 60_000);
});
