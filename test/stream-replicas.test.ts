import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { type RunningServer, startServer } from '../src/server.js';
import { type LokiDouble, startLokiDouble } from './support/loki-double.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from './support/postgres.js';
import { waitFor as waitUntil } from './support/wait.js';

/**
 * Two responder replicas on one real Postgres, both tailing the same Loki: every burst bans once,
 * whichever replica records it first, and the ruler's alert for it is a duplicate on either replica.
 */
const baseUrl = postgresTestUrl();
const WEBHOOK_TOKEN = 'replica-webhook-token-0123456789';
const ADMIN_TOKEN = 'replica-admin-token-0123456789';
const ATTACKERS = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 10}`);

const waitFor = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) =>
  waitUntil(what, check, { timeoutMs, everyMs: 50 });

interface BanJson {
  ip: string;
  offences: number;
  level: number;
  source: string;
}

describe.skipIf(!baseUrl)('tail replicas on one Postgres', () => {
  let schema: TestSchema;
  let loki: LokiDouble;
  const replicas: RunningServer[] = [];

  beforeAll(async () => {
    schema = await createTestSchema(baseUrl!, 'lkb_stream');
    loki = await startLokiDouble({ lineDelayMs: 100 });
    const config = parseConfig(
      JSON.stringify({
        server: { listen: '127.0.0.1:0' },
        store: { postgres: schema.url },
        auth: {
          webhook: { bearer: WEBHOOK_TOKEN },
          api: { tokens: [{ name: 'ops', token: ADMIN_TOKEN, role: 'admin' }] },
        },
        jails: { sshd: {} },
        hosts: [{ name: 'web1', address: '192.0.2.10' }],
        detect: { loki: { url: loki.url } },
      }),
      {},
    );
    for (let i = 0; i < 2; i++) replicas.push(await startServer(config));
  }, 60_000);

  afterAll(async () => {
    for (const replica of replicas) await replica.close();
    await loki?.close();
    await schema?.drop();
  });

  async function bans(replica: RunningServer): Promise<BanJson[]> {
    const response = await fetch(`${replica.url}/api/v1/bans?limit=1000`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return ((await response.json()) as { bans: BanJson[] }).bans;
  }

  it('bans each burst once, and the ruler alert is a duplicate on the other replica', async () => {
    await waitFor('both tails', async () => loki.openTails() === 2);
    const start = Date.now();
    loki.push(
      ATTACKERS.flatMap((ip, a) =>
        Array.from({ length: 5 }, (_, i) => ({
          labels: { job: 'sshd', host: 'web1' },
          ns: (BigInt(start + a * 10 + i) * 1_000_000n).toString(),
          line: `Failed password for root from ${ip} port ${40000 + i} ssh2`,
        })),
      ),
    );
    await waitFor('every ban', async () => (await bans(replicas[0]!)).length === ATTACKERS.length);
    // Both replicas saw every burst; give the slower one time to try.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const recorded = await bans(replicas[1]!);
    expect(recorded).toHaveLength(ATTACKERS.length);
    expect(new Set(recorded.map((ban) => ban.ip))).toEqual(new Set(ATTACKERS));
    for (const ban of recorded) expect(ban).toMatchObject({ offences: 1, level: 0, source: 'loki-tail' });

    const alert = (replica: RunningServer, ip: string) =>
      fetch(`${replica.url}/api/v1/webhook`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          version: '4',
          groupKey: '{}:{ip="x"}',
          status: 'firing',
          receiver: 'lokiban',
          groupLabels: {},
          commonLabels: {},
          commonAnnotations: {},
          externalURL: 'http://alertmanager',
          alerts: [
            {
              status: 'firing',
              labels: { alertname: 'SshdBruteForce', ip, jail: 'sshd', host: 'web1', severity: 'warning' },
              annotations: {},
              startsAt: new Date(start + 3_000).toISOString(),
              endsAt: '0001-01-01T00:00:00Z',
              generatorURL: '',
              fingerprint: 'a1b2c3d4e5f60718',
            },
          ],
        }),
      });
    for (const [index, replica] of replicas.entries()) {
      const response = await alert(replica, ATTACKERS[index]!);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { results: Array<{ outcome: string }> };
      expect(body.results[0]!.outcome).toBe('duplicate');
    }
    expect(await bans(replicas[0]!)).toHaveLength(ATTACKERS.length);
  }, 60_000);
});
