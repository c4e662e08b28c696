import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDecisionPolicy } from '../src/config/policy.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { testConfig, WEBHOOK_TOKEN } from './support/config.js';
import { FakeStore } from './support/fake-store.js';

const NOW = Date.parse('2026-11-27T08:01:00Z');
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../src/http/fixtures/${name}`, import.meta.url), 'utf8')) as {
    alerts: Array<{ labels: Record<string, string>; fingerprint?: string }>;
  };

/** A group of `count` alerts shaped like the fixture's first one, each for its own address. */
function group(name: string, count: number): string {
  const doc = fixture(name);
  const template = JSON.stringify(doc.alerts[0]);
  const ip = doc.alerts[0]!.labels.ip!;
  const alerts = Array.from({ length: count }, (_, i) => {
    const alert = JSON.parse(template.split(ip).join(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
    alert.fingerprint = i.toString(16).padStart(16, '0');
    return alert;
  });
  return JSON.stringify({ ...doc, alerts });
}

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

async function start(bodyLimit?: number) {
  const config = testConfig({ bodyLimit: bodyLimit ?? 'default' });
  const store = new FakeStore();
  t = await buildTestApp({
    config,
    store,
    policy: buildDecisionPolicy(config, { now: () => NOW, random: () => 0, localAddresses: [] }),
    now: () => NOW,
  });
  return { store, t };
}

describe('webhook body limits (issue 12, item 6)', () => {
  it('takes a 10,000-alert group from Alertmanager and from Grafana under the default limit', async () => {
    const { t } = await start();
    for (const name of ['alertmanager-0.25.json', 'grafana-webhook.json']) {
      const body = group(name, 10_000);
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/webhook',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
        payload: body,
      });
      expect(response.statusCode, name).toBe(200);
      expect(response.json().received).toBe(10_000);
    }
  });

  it('logs an error and counts a refused body: the sender never retries a 413', async () => {
    const { t } = await start(64 * 1024);
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/webhook',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      payload: group('alertmanager-0.25.json', 500),
    });
    expect(response.statusCode).toBe(413);
    const line = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.level === 50);
    expect(line).toMatchObject({ bodyLimit: 65_536, msg: expect.stringMatching(/raise server\.bodyLimit/) });
    expect(line.bytes).toBeGreaterThan(65_536);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/lokiban_webhook_requests_total\{outcome="too-large"\} 1/);
  });

  it('refuses a request without valid credentials before reading its body', async () => {
    const { t } = await start();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as { port: number };
    for (const [auth, length] of [
      ['', 500_000],
      ['Authorization: Bearer wrong-token-0123456789\r\n', 10_000_000],
    ] as const) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(text);
        }, 2000);
        socket.on('data', (chunk) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n')) {
            clearTimeout(timer);
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
        // Announces a body under the limit and sends none of it: only a header check can answer.
        socket.write(
          `POST /api/v1/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${auth}Content-Length: ${length}\r\n\r\n`,
        );
      });
      expect(answer).toMatch(/^HTTP\/1\.1 401/);
      expect(answer.toLowerCase()).toContain('connection: close');
    }
  });
});
