import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../support/postgres.js';
import { attackerIp, offence } from './fixtures.js';
import { Replica } from './replicas.js';

const baseUrl = postgresTestUrl();

const IPS = 125;
const ROUNDS = 4;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Two replica processes, one Postgres, every alert delivered to both at once. Each round is a day
 * apart, so the previous round's bans have expired and the next ban of an IP escalates one level;
 * inside a round every IP has two distinct offences racing each other on both replicas.
 */
describe.skipIf(!baseUrl)('two replicas on one Postgres', () => {
  let schema: TestSchema;
  let replicas: Replica[] = [];
  let db: pg.Client;

  beforeAll(async () => {
    schema = await createTestSchema(baseUrl!, 'lkb_ha_race');
    // Both start (and migrate) at the same moment: the migration lock makes that safe.
    replicas = await Promise.all([Replica.start(schema.url), Replica.start(schema.url)]);
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await db?.end();
    await schema?.drop();
  });

  it('decides 1,000 alerts delivered twice exactly once, with exact escalation', async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const now = T0 + round * DAY;
      const alerts = Array.from({ length: IPS }, (_, n) => [
        offence(attackerIp(n), now - 60_000, `r${round}a`),
        offence(attackerIp(n), now - 30_000, `r${round}b`),
      ]).flat();
      const [first, second] = await Promise.all([
        replicas[0]!.deliver(shuffled(alerts, round + 1), { now, concurrency: 8 }),
        replicas[1]!.deliver(shuffled(alerts, round + 101), { now, concurrency: 8 }),
      ]);
      for (const delivery of [...first!, ...second!]) {
        expect(delivery.error).toBeUndefined();
        const kind = delivery.outcome!.outcome;
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        if (kind === 'banned') expect(delivery.outcome!.level).toBe(round);
      }
    }

    // 2,000 deliveries: each alert decided once, a duplicate on the other replica.
    expect(Object.fromEntries(outcomes)).toEqual({ banned: 500, unchanged: 500, duplicate: 1000 });

    const offences = await db.query('SELECT count(*)::int AS n FROM offences');
    expect(offences.rows[0].n).toBe(1000);
    const bans = await db.query<{ ip: string; levels: number[]; offences: number[]; lengths: string[] }>(
      `SELECT ip, array_agg(level ORDER BY created_at) AS levels,
              array_agg(offences ORDER BY created_at) AS offences,
              array_agg((expires_at - created_at)::text ORDER BY created_at) AS lengths
         FROM bans GROUP BY ip`,
    );
    expect(bans.rows).toHaveLength(IPS);
    for (const row of bans.rows) {
      expect(row.levels).toEqual([0, 1, 2, 3]);
      expect(row.offences).toEqual([2, 2, 2, 2]);
      // fail2ban bantime.increment with bantime 600: 600, 1200, 2400, 4800 seconds.
      expect(row.lengths).toEqual(['600000', '1200000', '2400000', '4800000']);
    }
    const targets = await db.query('SELECT count(*)::int AS n FROM ban_targets');
    expect(targets.rows[0].n).toBe(IPS * ROUNDS * 2);
    const linked = await db.query(
      `SELECT count(*)::int AS n FROM offences o JOIN bans b ON b.id = o.ban_id WHERE o.ip = b.ip`,
    );
    expect(linked.rows[0].n).toBe(1000);
  }, 120_000);
});
