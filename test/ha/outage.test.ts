import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Offence } from '../../src/domain/types.js';
import { TempCluster } from '../support/pg-cluster.js';
import { createTestSchema, postgresTestUrl } from '../support/postgres.js';
import { attackerIp, offence } from './fixtures.js';
import { Replica } from './replicas.js';
import type { Delivery } from './store-replica.js';

// The shared cluster stays up for the other suites: this test crashes a private one of its own.
const enabled = postgresTestUrl() !== undefined;
const ALERTS = 3000;

describe.skipIf(!enabled)('Postgres crash under load', () => {
  let cluster: TempCluster;
  let url: string;
  let replicas: Replica[] = [];

  beforeAll(async () => {
    cluster = await TempCluster.create();
    url = (await createTestSchema(cluster.url, 'lkb_ha_outage')).url;
    replicas = await Promise.all([Replica.start(url), Replica.start(url)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await cluster?.destroy();
  });

  it('fails fast while down, recovers without a restart, and loses no accepted ban', async () => {
    const now = Date.now();
    const alerts = Array.from({ length: ALERTS }, (_, n) => offence(attackerIp(n), now - 1000, 'outage'));
    const halves = [alerts.filter((_, n) => n % 2 === 0), alerts.filter((_, n) => n % 2 === 1)];

    // Crash the server (immediate stop: no checkpoint, every connection cut) while both replicas write.
    const deliveries = Promise.all(halves.map((half, i) => replicas[i]!.deliver(half, { concurrency: 4 })));
    // Stop once a tenth is in, whatever the machine's speed: most deliveries are still to come.
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    for (;;) {
      const { rows } = await watcher.query('SELECT count(*)::int AS n FROM offences');
      if (rows[0].n >= ALERTS / 10) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await watcher.end();
    await cluster.stop('immediate');
    const during = await Promise.all(replicas.map((replica) => replica.ping()));
    const first = (await deliveries).flat();

    const accepted = first.filter((d) => d.outcome);
    const failed = first.filter((d) => d.error);
    expect(accepted.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    // What a webhook would answer 503 for: the store's own unavailability error, promptly.
    for (const d of failed) expect(d.errorName).toBe('StoreUnavailableError');
    expect(Math.max(...failed.map((d) => d.ms))).toBeLessThan(5000);
    for (const ping of during) expect(ping).toMatchObject({ ok: false, errorName: 'StoreUnavailableError' });

    // Back up: the same replica processes carry on, and the sender retries what failed.
    await cluster.start();
    const retried: Delivery[] = [];
    let pending: Offence[] = alerts.filter((a) => failed.some((d) => d.fingerprint === a.fingerprint));
    for (let round = 0; pending.length > 0 && round < 20; round++) {
      const results = (
        await Promise.all([
          replicas[0]!.deliver(
            pending.filter((_, n) => n % 2 === 0),
            { concurrency: 4 },
          ),
          replicas[1]!.deliver(
            pending.filter((_, n) => n % 2 === 1),
            { concurrency: 4 },
          ),
        ])
      ).flat();
      retried.push(...results.filter((d) => d.outcome));
      const stillFailing = new Set(results.filter((d) => d.error).map((d) => d.fingerprint));
      pending = pending.filter((a) => stillFailing.has(a.fingerprint));
      if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(pending).toEqual([]);
    for (const ping of await Promise.all(replicas.map((replica) => replica.ping())))
      expect(ping.ok).toBe(true);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const bans = await db.query<{ ip: string; n: number }>(
        'SELECT ip, count(*)::int AS n FROM bans GROUP BY ip',
      );
      const banned = new Map(bans.rows.map((row) => [row.ip, row.n]));
      // Every ban the responders acknowledged survived the crash...
      for (const d of accepted) expect(banned.get(d.outcome!.ip!)).toBe(1);
      // ...and after the retries every alert is banned exactly once: nothing lost, nothing doubled.
      expect(banned.size).toBe(ALERTS);
      expect([...banned.values()].every((n) => n === 1)).toBe(true);
      const offences = await db.query('SELECT count(*)::int AS n FROM offences');
      expect(offences.rows[0].n).toBe(ALERTS);
      // A retry of a batch whose COMMIT landed just before the crash is a duplicate, not a second ban.
      expect(retried.every((d) => ['banned', 'duplicate'].includes(d.outcome!.outcome))).toBe(true);
    } finally {
      await db.end();
    }
  }, 120_000);
});
