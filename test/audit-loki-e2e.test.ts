import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../src/logql/catalogue.js';
import type { LogEntry } from '../src/logql/evaluate.js';
import { compileQuery } from '../src/logql/evaluate.js';
import { parseRuleQuery } from '../src/logql/query.js';
import { render, resolveRenderContext } from '../src/logql/render.js';
import { DEFAULT_CATALOGUE, loadRules } from '../src/logql/toolkit.js';
import { startServer } from '../src/server.js';
import { ADMIN_TOKEN, testConfig, WEBHOOK_TOKEN } from './support/config.js';
import { startFakeLoki } from './support/fake-loki.js';

const LOKI_TOKEN = 'loki-bearer-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'lkb-audit-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alert(ip: string, jail: string, startsAt: string, summary: string) {
  return JSON.stringify({
    version: '4',
    status: 'firing',
    receiver: 'lokiban',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'Brute', ip, jail, host: 'web1' },
        annotations: { summary },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
      },
    ],
  });
}

describe('audit trail end to end: responder → Loki → recidive', () => {
  it('pushes each ban and unban, and the recidive jail fires on that output after five bans', async () => {
    const loki = await startFakeLoki();
    const config = testConfig({
      store: `{ sqlite: "${join(dir, 'audit.db')}" }`,
      extra: `audit:\n  loki: { url: "${loki.url}", tenant: ops, bearer: "${LOKI_TOKEN}", labels: { cluster: eu1 } }\n`,
    });
    const server = await startServer(config, { listen: '127.0.0.1:0' });
    try {
      const ip = '203.0.113.32';
      const jails = ['sshd', 'nginx-http-auth', 'sshd', 'nginx-http-auth', 'sshd'];
      // Attacker-chosen text in the summary (rules put log fields there) tries to pass as recidive's own ban.
      const summaries = [
        '5 failures',
        'user "x" jail=recidive level=0',
        'x\nevent=ban ip=198.51.100.1 jail=sshd',
        'x',
        'x',
      ];
      const base = Date.now() - 60_000;
      for (const [index, jail] of jails.entries()) {
        const startsAt = new Date(base + index * 1000).toISOString();
        const webhook = await fetch(`${server.url}/api/v1/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
          body: alert(ip, jail, startsAt, summaries[index]!),
        });
        expect(webhook.status).toBe(200);
        // Lifted by hand, so the next offence is a new ban rather than an extension.
        const unban = await fetch(`${server.url}/api/v1/unban`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
          body: JSON.stringify({ ip, reason: 'test' }),
        });
        expect(unban.status).toBe(200);
      }
      await expect.poll(() => loki.stored().length, { timeout: 15_000, interval: 100 }).toBe(10);
      const stored = loki.stored();
      for (const request of loki.accepted) {
        expect(request.headers['x-scope-orgid']).toBe('ops');
        expect(request.headers.authorization).toBe(`Bearer ${LOKI_TOKEN}`);
      }
      expect(
        stored.every(
          (e) =>
            JSON.stringify(e.stream) === JSON.stringify({ cluster: 'eu1', job: 'lokiban', stream: 'audit' }),
        ),
      ).toBe(true);
      expect(stored.map((e) => e.line.split(' ').slice(0, 3).join(' '))).toEqual(
        jails.flatMap((jail) => [`event=ban ip=${ip} jail=${jail}`, `event=unban ip=${ip} jail=${jail}`]),
      );
      expect(stored.every((e) => !e.line.includes('\n'))).toBe(true);
      expect(stored[2]!.line).toContain(' summary="user \\"x\\" jail\\u003drecidive level\\u003d0" ');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^lokiban_audit_loki_shipped_total 10$/m);
      expect(metrics).toMatch(/^lokiban_audit_loki_lag_seconds 0$/m);

      // The recidive jail exactly as the Loki ruler would load it, over what Loki received.
      const rule = loadRules(
        render(resolveRenderContext(loadCatalogue(DEFAULT_CATALOGUE)), 'loki'),
        'loki',
        'jail',
      ).find((r) => r.jail === 'recidive')!;
      const query = compileQuery(parseRuleQuery(rule.expr));
      const entries: LogEntry[] = stored.map((e) => ({
        ts: Number(BigInt(e.ns) / 1_000_000n),
        line: e.line,
        labels: e.stream,
      }));
      expect(entries.every((entry) => query.selects(entry.labels))).toBe(true);
      const now = Date.now();
      const afterFour = entries.slice(0, 8);
      expect(query.evaluate(afterFour, now)).toEqual([]);
      expect(query.evaluate(entries, now)).toEqual([{ labels: { ip, jail: 'recidive' }, value: 5 }]);
    } finally {
      await server.close();
      await loki.close();
    }
  });

  it('pushes nothing and exports no audit series unless audit.loki is configured', async () => {
    const server = await startServer(testConfig({ store: `{ sqlite: "${join(dir, 'plain.db')}" }` }), {
      listen: '127.0.0.1:0',
    });
    try {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('lokiban_webhook_requests_total');
      expect(metrics).not.toContain('lokiban_audit_loki');
    } finally {
      await server.close();
    }
  });
});
