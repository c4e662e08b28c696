import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../src/server.js';
import { ALERTMANAGER, type RunningAlertmanager, startAlertmanager } from './support/alertmanager.js';
import { ADMIN_TOKEN, testConfig, WEBHOOK_TOKEN } from './support/config.js';
import { waitForValue } from './support/wait.js';

/**
 * Debian's prometheus-alertmanager (0.25) delivering to a listening responder: the webhook payloads,
 * retries and repeat notifications are Alertmanager's own, not hand-written fixtures.
 */
const dir = mkdtempSync(join(tmpdir(), 'lokiban-am-'));
let server: RunningServer;
let alertmanager: RunningAlertmanager | undefined;

const waitFor = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  waitForValue(what, check, { timeoutMs, everyMs: 200 });

interface BanJson {
  id: number;
  ip: string;
  level: number;
  offences: number;
  createdAt: string;
  expiresAt: string;
}

async function bans(ip: string): Promise<BanJson[]> {
  const response = await fetch(`${server.url}/api/v1/bans/${ip}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return ((await response.json()) as { bans: BanJson[] }).bans;
}

/** Webhook deliveries the responder answered, by outcome, read from its own /metrics. */
async function webhookCount(outcome: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`lokiban_webhook_requests_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text);
  return match ? Number(match[1]) : 0;
}

async function pushAlert(ip: string, startsAt: Date, endsAt: Date) {
  const response = await fetch(`${alertmanager!.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd', host: 'web1' },
        annotations: { summary: `failed SSH logins from ${ip}` },
        startsAt: startsAt.toISOString(),
        endsAt: endsAt.toISOString(),
      },
    ]),
  });
  expect(response.status).toBe(200);
}

describe.skipIf(!existsSync(ALERTMANAGER))('a real Alertmanager delivers to the responder', () => {
  beforeAll(async () => {
    // 4-second bans so a ban can expire and escalate within the test.
    const config = testConfig({
      store: `{ sqlite: "${join(dir, 'lokiban.db')}" }`,
    });
    config.jails.sshd!.bantime = 4;
    server = await startServer(config, { listen: '127.0.0.1:0' });

    alertmanager = await startAlertmanager({
      dir,
      webhookUrl: `${server.url}/api/v1/webhook`,
      webhookToken: WEBHOOK_TOKEN,
      repeatInterval: '2s',
      sendResolved: true,
    });
  }, 60_000);

  afterAll(async () => {
    await alertmanager?.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bans on the first notification, ignores repeats, and escalates after the alert fires again', async () => {
    const ip = '203.0.113.99';
    const firstStart = new Date(Date.now() - 5_000);
    await pushAlert(ip, firstStart, new Date(Date.now() + 60_000));
    const [first] = await waitFor('the first ban', async () => {
      const list = await bans(ip);
      return list.length > 0 ? list : undefined;
    });
    expect(first).toMatchObject({ ip, level: 0, offences: 1 });
    expect(Date.parse(first!.expiresAt) - Date.parse(first!.createdAt)).toBe(4_000);

    // Repeat notifications of the same alert (repeat_interval 2s) are duplicates: one offence, one ban.
    await waitFor('a repeat notification', async () =>
      (await webhookCount('accepted')) >= 2 ? true : undefined,
    );
    expect(await webhookCount('error')).toBe(0);
    expect(await webhookCount('unauthorized')).toBe(0);
    let list = await bans(ip);
    expect(list).toHaveLength(1);
    expect(list[0]!.offences).toBe(1);

    // Resolve the alert, let the ban expire, then the attack starts again: a new offence, twice as long.
    await pushAlert(ip, firstStart, new Date());
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Date.parse(first!.expiresAt) - Date.now() + 500)),
    );
    await pushAlert(ip, new Date(), new Date(Date.now() + 60_000));
    list = await waitFor('the second ban', async () => {
      const current = await bans(ip);
      return current.length > 1 ? current : undefined;
    });
    const second = list.find((ban) => ban.id !== first!.id)!;
    expect(second.level).toBe(1);
    expect(Date.parse(second.expiresAt) - Date.parse(second.createdAt)).toBe(8_000);
  }, 60_000);
});
