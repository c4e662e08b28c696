import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../support/postgres.js';
import { attackerIp, haPolicy, offence } from './fixtures.js';
import { firing, Responder, writeReplicaConfig } from './responders.js';

const baseUrl = postgresTestUrl();
const IPS = 250;
const PER_IP = 4;
const DAY = 86_400_000;

/** Runs `tasks` with at most `limit` in flight. */
async function pooled<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let i = next++; i < tasks.length; i = next++) results[i] = await tasks[i]!();
    }),
  );
  return results;
}

/**
 * Two `lokiban serve` processes on one Postgres behind an imaginary load balancer that sends every
 * alert to both. Escalation history is seeded first (IP n has n % 4 earlier, expired bans), so the
 * levels the responders decide under the race can be checked.
 */
describe.skipIf(!baseUrl)('two lokiban serve processes on one Postgres', () => {
  let schema: TestSchema;
  let dir: string;
  let responders: Responder[] = [];
  let db: pg.Client;

  beforeAll(async () => {
    schema = await createTestSchema(baseUrl!, 'lkb_ha_http');
    dir = mkdtempSync(join(tmpdir(), 'lkb-pg-http-'));
    const seeder = new PostgresStore(schema.url);
    await seeder.init();
    const now = Date.now();
    for (let n = 0; n < IPS; n++) {
      for (let j = n % 4; j > 0; j--) {
        const at = now - j * DAY;
        await seeder.recordBatch(
          [{ kind: 'offence', index: 0, offence: offence(attackerIp(n), at, `seed${j}`) }],
          haPolicy(at),
          'alertmanager',
        );
      }
    }
    await seeder.close();
    const config = writeReplicaConfig(dir, schema.url);
    responders = await Promise.all([Responder.start(config), Responder.start(config)]);
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(responders.map((r) => r.stop()));
    await db?.end();
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('decides 1,000 alerts delivered to both replicas exactly once, escalating from the history', async () => {
    const started = Date.now();
    const alerts = Array.from({ length: IPS * PER_IP }, (_, i) => {
      const n = i % IPS;
      const k = Math.floor(i / IPS);
      return firing(attackerIp(n), started - (k + 1) * 60_000, `http-${k}-${n}`);
    });
    // Each alert goes to both replicas at the same moment.
    const tasks = alerts.flatMap((alert) => responders.map((r) => () => r.webhook([alert])));
    const responses = await pooled(tasks, 16);
    const outcomes = new Map<string, number>();
    for (const response of responses) {
      expect(response.status).toBe(200);
      const body = (await response.json()) as { results: Array<{ outcome: string }> };
      for (const { outcome } of body.results) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(outcomes.get('duplicate')).toBe(IPS * PER_IP);
    expect(outcomes.get('banned')).toBe(IPS);
    expect((outcomes.get('extended') ?? 0) + (outcomes.get('unchanged') ?? 0)).toBe(IPS * (PER_IP - 1));

    const offences = await db.query(
      `SELECT count(*)::int AS n FROM offences WHERE fingerprint LIKE 'http-%'`,
    );
    expect(offences.rows[0].n).toBe(IPS * PER_IP);
    const bans = await db.query<{ ip: string; level: number; length: string; offences: number }>(
      `SELECT ip, level, (expires_at - created_at)::text AS length, offences FROM bans WHERE created_at >= $1`,
      [started],
    );
    expect(bans.rows).toHaveLength(IPS);
    const byIp = new Map(bans.rows.map((row) => [row.ip, row]));
    for (let n = 0; n < IPS; n++) {
      const ban = byIp.get(attackerIp(n))!;
      expect(ban.level).toBe(n % 4);
      expect(ban.offences).toBe(PER_IP);
      // bantime 600 s doubled per earlier ban; extensions by later offences add at most seconds.
      const base = 600_000 * 2 ** (n % 4);
      expect(Number(ban.length)).toBeGreaterThanOrEqual(base);
      expect(Number(ban.length)).toBeLessThan(base + 60_000);
    }
    const targets = await db.query(
      `SELECT count(*)::int AS n FROM ban_targets t JOIN bans b ON b.id = t.ban_id WHERE b.created_at >= $1`,
      [started],
    );
    expect(targets.rows[0].n).toBe(IPS * 2);

    // The replicas' dispatchers (dry-run hosts) drain the outbox between them: every target applied.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM ban_targets WHERE state <> 'applied'`);
      if (rows[0].n === 0) break;
      if (Date.now() > deadline) throw new Error(`${rows[0].n} outbox rows still pending after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 120_000);
});
