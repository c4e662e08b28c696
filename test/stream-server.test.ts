import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { type RunningServer, startServer } from '../src/server.js';
import { burstFingerprint } from '../src/stream/identity.js';
import { type LokiDouble, startLokiDouble } from './support/loki-double.js';
import { waitFor as waitUntil } from './support/wait.js';

const waitFor = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) =>
  waitUntil(what, check, { timeoutMs, everyMs: 20 });

interface Ready {
  status: string;
  detect?: {
    connected: boolean;
    tails: Array<{ name: string; jails: string[]; state: string; lastError?: string }>;
  };
}

describe('responder with detect.loki', () => {
  let dir: string;
  let loki: LokiDouble;
  let server: RunningServer | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-stream-srv-'));
    loki = await startLokiDouble({ lineDelayMs: 20 });
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
    await loki.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (jails: Record<string, unknown>) =>
    parseConfig(
      JSON.stringify({
        server: { listen: '127.0.0.1:0' },
        store: { sqlite: join(dir, 'lokiban.db') },
        auth: { webhook: { bearer: 'webhook-token-0123456789' } },
        logging: { level: 'fatal' },
        jails,
        detect: { loki: { url: loki.url, retryMin: 1, retryMax: 1 } },
      }),
      {},
    );

  const ready = async () => (await (await fetch(`${server!.url}/readyz`)).json()) as Ready;

  it('reports each tail on /readyz and in /metrics', async () => {
    server = await startServer(config({ sshd: {}, 'nginx-http-auth': {}, recidive: {} }));
    await waitFor('both tails', async () => (await ready()).detect?.connected === true);
    const body = await ready();
    expect(body.status).toBe('ready');
    expect(body.detect!.tails).toEqual([
      { name: 'tail-1', jails: ['nginx-http-auth', 'sshd'], state: 'connected' },
      { name: 'tail-2', jails: ['recidive'], state: 'connected' },
    ]);
    expect(loki.openTails()).toBe(2);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('lokiban_tail_connected{tail="tail-1"} 1');
    expect(metrics).toContain('lokiban_tail_tracked_addresses 0');
  });

  it('shows a query Loki refuses as an invalid tail naming its jails, and keeps serving', async () => {
    loki.refuseNextTails(1, 'parse error at line 1, col 20: syntax error: unexpected IDENTIFIER');
    server = await startServer(config({ sshd: {} }));
    await waitFor('the refusal', async () => (await ready()).detect?.tails[0]?.state === 'invalid');
    const response = await fetch(`${server.url}/readyz`);
    // The webhook backstop stays in the load balancer: readiness follows the store.
    expect(response.status).toBe(200);
    const body = (await response.json()) as Ready;
    expect(body.detect).toEqual({
      connected: false,
      tails: [
        {
          name: 'tail-1',
          jails: ['sshd'],
          state: 'invalid',
          lastError:
            'Loki refused the query: parse error at line 1, col 20: syntax error: unexpected IDENTIFIER',
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(loki.tails).toHaveLength(1);
  });

  it('answers a Grafana-managed alert for the tail’s burst with duplicate (IPv4-mapped address and all)', async () => {
    server = await startServer(config({ sshd: {} }));
    await waitFor('the tail', async () => (await ready()).detect?.connected === true);
    const start = Date.now();
    loki.push(
      Array.from({ length: 5 }, (_, i) => ({
        labels: { job: 'sshd', host: 'edge-1' },
        ns: (BigInt(start + i) * 1_000_000n).toString(),
        line: `Failed password for root from 192.0.2.44 port ${40000 + i} ssh2`,
      })),
    );
    await waitFor(
      'the tail ban',
      async () => (await server!.store.listBans({ ip: '192.0.2.44' }, Date.now())).length === 1,
    );
    const payload = JSON.parse(
      readFileSync(join(import.meta.dirname, '../src/http/fixtures/grafana-webhook.json'), 'utf8'),
    );
    const [alert] = payload.alerts;
    payload.alerts = [
      {
        ...alert,
        labels: { ...alert.labels, alertname: 'SshdBruteForceFailed', jail: 'sshd' },
        startsAt: new Date(start + 30_000).toISOString(),
      },
    ];
    const response = await fetch(`${server.url}/api/v1/webhook`, {
      method: 'POST',
      headers: { authorization: 'Bearer webhook-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { results: Array<{ outcome: string }> };
    expect(body.results.map((r) => r.outcome)).toEqual(['duplicate']);
    const bans = await server.store.listBans({ ip: '192.0.2.44' }, Date.now());
    expect(bans).toMatchObject([{ offences: 1, level: 0, source: 'loki-tail' }]);
  });

  it('counts a burst split by a dropped connection exactly once, at its fifth line', async () => {
    server = await startServer(config({ sshd: {} }));
    await waitFor('the tail', async () => (await ready()).detect?.connected === true);
    const start = Date.now();
    const lines = Array.from({ length: 5 }, (_, i) => ({
      labels: { job: 'sshd', host: 'edge-1' },
      ns: (BigInt(start + i) * 1_000_000n).toString(),
      line: `Failed password for root from 198.51.100.77 port ${40000 + i} ssh2`,
    }));
    loki.push(lines.slice(0, 3));
    const matched = async () => {
      const text = await (await fetch(`${server!.url}/metrics`)).text();
      return Number(text.match(/lokiban_tail_lines_matched_total\{jail="sshd"\} (\d+)/)?.[1] ?? 0);
    };
    await waitFor('three lines counted', async () => (await matched()) === 3);
    loki.dropTails();
    loki.push(lines.slice(3));
    await waitFor(
      'the ban',
      async () => (await server!.store.listBans({ ip: '198.51.100.77' }, Date.now())).length === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await matched()).toBe(5);
    const [burst] = await server.store.findBursts([
      { fingerprint: burstFingerprint('sshd', '198.51.100.77', 'edge-1'), at: Date.now() },
    ]);
    expect(burst?.startsAt).toBe(start + 4);
    expect((await ready()).detect?.tails[0]?.state).toBe('connected');
  });

  it('refuses to start on a selector that can never be tailed, naming the jail', async () => {
    await expect(startServer(config({ sshd: { selector: '{job=~".*"}' } }))).rejects.toThrow(
      /jail sshd: .*selector needs at least one matcher that rejects an empty value/,
    );
  });
});
