import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createEnforcement } from '../src/enforce/index.js';
import { type RunningServer, startServer } from '../src/server.js';
import { type RunningAlertmanager, startAlertmanager } from './support/alertmanager.js';
import { type LokiDouble, startLokiDouble } from './support/loki-double.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { startTcpServer, tcpConnects } from './support/tcp.js';
import { waitFor as waitUntil } from './support/wait.js';

/**
 * The fast path with real parts wherever users have them: sshd failure lines → the Loki double's
 * tail (recorded Loki 2.7.5 behaviour, lines 0.5 s after the push) → the responder → SSH → nftables
 * in a network namespace. Then the ruler's alert for the same burst arrives through a real
 * Alertmanager and must be a `duplicate`: no second ban, no extension, no escalation.
 */
const WEBHOOK_TOKEN = 'stream-webhook-token-0123456789';
const ADMIN_TOKEN = 'stream-admin-token-0123456789';

const waitFor = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) =>
  waitUntil(what, check, { timeoutMs, everyMs: 20 });

async function metric(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = text.match(pattern);
  return match ? Number(match[1]) : 0;
}

describe('Loki tail → responder → SSH → nftables, ruler alert afterwards', () => {
  let dir: string;
  let host: TestHost;
  let loki: LokiDouble;
  let server: RunningServer;
  let alertmanager: RunningAlertmanager | undefined;
  let tcp: ChildProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-stream-e2e-'));
    host = await createTestHost({ attacker: true, name: 'web1' });
    loki = await startLokiDouble();
    const config = parseConfig(
      JSON.stringify({
        server: { listen: '127.0.0.1:0' },
        store: { sqlite: join(dir, 'lokiban.db') },
        auth: {
          webhook: { bearer: WEBHOOK_TOKEN },
          api: { tokens: [{ name: 'ops', token: ADMIN_TOKEN, role: 'admin' }] },
        },
        jails: { sshd: { bantime: '1h' } },
        transport: 'ssh',
        hosts: [{ ...host.config, match: { host: 'web1' } }],
        enforcement: { retryMin: 1, commandTimeout: 10 },
        detect: { loki: { url: loki.url, tenant: 'fleet' } },
      }),
      {},
    );
    server = await startServer(config, {
      enforcement: ({ store, logger }) => createEnforcement(config, store, logger),
    });
    alertmanager = await startAlertmanager({
      dir,
      webhookUrl: `${server.url}/api/v1/webhook`,
      webhookToken: WEBHOOK_TOKEN,
      repeatInterval: '1h',
      sendResolved: false,
    });
    tcp = await startTcpServer(host.ns, host.attacker!.target, 8080);
  }, 60_000);

  afterAll(async () => {
    tcp?.kill('SIGKILL');
    await alertmanager?.stop();
    await server?.close();
    await loki?.close();
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('drops the attacker within seconds of the fifth line; the ruler’s alert is a duplicate', async () => {
    const atk = host.attacker!;
    await waitFor('the tail', async () => {
      const ready = (await (await fetch(`${server.url}/readyz`)).json()) as {
        detect?: { connected: boolean };
      };
      return ready.detect?.connected === true;
    });
    expect(loki.tails[0]!.headers['x-scope-orgid']).toBe('fleet');
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);

    const pushedAt = Date.now();
    loki.push(
      Array.from({ length: 5 }, (_, i) => ({
        labels: { job: 'sshd', host: 'web1' },
        ns: (BigInt(pushedAt + i) * 1_000_000n).toString(),
        line: `Failed password for invalid user admin${i} from ${atk.banned} port ${50000 + i} ssh2`,
      })),
    );
    await waitFor('the element on the host', () => host.list(4).some((e) => e.ip === atk.banned));
    const elapsed = Date.now() - pushedAt;
    // 0.5 s of that is Loki's own delivery delay, as recorded.
    expect(elapsed).toBeLessThan(3000);
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(false);
    expect(tcpConnects(atk.ns, atk.bystander, atk.target, 8080)).toBe(true);
    const before = host.list(4).find((e) => e.ip === atk.banned)!;

    // The ruler evaluates after the fifth line and alerts with its own fingerprint and startsAt.
    const response = await fetch(`${alertmanager!.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: {
            alertname: 'SshdBruteForce',
            ip: atk.banned,
            jail: 'sshd',
            host: 'web1',
            severity: 'warning',
          },
          annotations: { summary: `SSH brute force from ${atk.banned}` },
          startsAt: new Date(pushedAt + 2_000).toISOString(),
          endsAt: new Date(Date.now() + 600_000).toISOString(),
        },
      ]),
    });
    expect(response.status).toBe(200);
    await waitFor('the ruler alert', async () => {
      return (await metric(server.url, /lokiban_alerts_total\{outcome="duplicate",jail="sshd"\} (\d+)/)) >= 1;
    });
    expect(await metric(server.url, /lokiban_alerts_total\{outcome="banned",jail="sshd"\} (\d+)/)).toBe(0);
    expect(await metric(server.url, /lokiban_alerts_total\{outcome="extended",jail="sshd"\} (\d+)/)).toBe(0);

    const bans = (await (
      await fetch(`${server.url}/api/v1/bans?ip=${atk.banned}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as { bans: Array<{ source: string; offences: number; level: number }> };
    expect(bans.bans).toHaveLength(1);
    expect(bans.bans[0]).toMatchObject({ source: 'loki-tail', offences: 1, level: 0 });
    const after = host.list(4).find((e) => e.ip === atk.banned)!;
    // Not re-timed by the duplicate: the element only ran down.
    expect(after.timeoutSeconds).toBeLessThanOrEqual(before.timeoutSeconds ?? Number.POSITIVE_INFINITY);
    expect(await metric(server.url, /lokiban_tail_crossings_total\{jail="sshd"\} (\d+)/)).toBe(1);
    expect(await metric(server.url, /lokiban_tail_lines_matched_total\{jail="sshd"\} (\d+)/)).toBe(5);
  }, 60_000);
});
