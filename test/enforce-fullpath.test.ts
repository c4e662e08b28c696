import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createEnforcement } from '../src/enforce/index.js';
import { type RunningServer, startServer } from '../src/server.js';
import { type RunningAlertmanager, startAlertmanager } from './support/alertmanager.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { startTcpServer, tcpConnects } from './support/tcp.js';
import { waitFor as waitUntil } from './support/wait.js';

/**
 * The whole path with real parts: Debian's Alertmanager delivers an alert → the responder records the
 * ban → the dispatcher sends it over SSH → the namespace host's nftables drops the attacker.
 */
const WEBHOOK_TOKEN = 'fullpath-webhook-token-0123456789';
const ADMIN_TOKEN = 'fullpath-admin-token-0123456789';

const waitFor = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) =>
  waitUntil(what, check, { timeoutMs, everyMs: 100 });

describe('Alertmanager → responder → SSH → nftables', () => {
  let dir: string;
  let host: TestHost;
  let server: RunningServer;
  let alertmanager: RunningAlertmanager | undefined;
  let tcp: ChildProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-enf-full-'));
    host = await createTestHost({ attacker: true, name: 'web1' });
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
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('drops the attacker on the host after an alert, and lets it back in after an unban', async () => {
    const atk = host.attacker!;
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);

    const response = await fetch(`${alertmanager!.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'SshdBruteForce', ip: atk.banned, jail: 'sshd', host: 'web1' },
          annotations: { summary: `failed SSH logins from ${atk.banned}` },
          startsAt: new Date(Date.now() - 5_000).toISOString(),
          endsAt: new Date(Date.now() + 600_000).toISOString(),
        },
      ]),
    });
    expect(response.status).toBe(200);

    await waitFor('the element on the host', () => host.list(4).some((e) => e.ip === atk.banned));
    const element = host.list(4).find((e) => e.ip === atk.banned)!;
    expect(element.timeoutSeconds).toBeGreaterThan(3500);
    expect(element.timeoutSeconds).toBeLessThanOrEqual(3600);
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(false);
    expect(tcpConnects(atk.ns, atk.bystander, atk.target, 8080)).toBe(true);

    const hosts = await fetch(`${server.url}/api/v1/hosts`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(hosts.status).toBe(200);
    expect(JSON.stringify(await hosts.json())).toMatch(/"name":"web1".*"state":"up"/);

    const unban = await fetch(`${server.url}/api/v1/unban`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ip: atk.banned }),
    });
    expect(unban.status).toBe(200);
    await waitFor('the element to go', () => !host.list(4).some((e) => e.ip === atk.banned));
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);
  });
});
