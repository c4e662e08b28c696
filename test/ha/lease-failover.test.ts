import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../support/postgres.js';
import { attackerIp, offence } from './fixtures.js';
import { Replica } from './replicas.js';

const baseUrl = postgresTestUrl();
const LEASE_TTL_MS = 1000;
const CLAIM_TTL_MS = 2000;
const BATCH = 10;

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Two replicas run the dispatcher loop; only the lease holder drains the outbox. The holder is
 * SIGKILLed in the middle of a burst: the other must take over within the lease ttl (+ one claim
 * ttl for the batch the dead one had claimed) and finish, and no change reaches a host twice except
 * the one batch the dead replica sent but never got to mark.
 */
describe.skipIf(!baseUrl)('dispatcher lease failover', () => {
  let schema: TestSchema;
  let replicas: Replica[] = [];
  let db: pg.Client;
  let dir: string;

  beforeAll(async () => {
    schema = await createTestSchema(baseUrl!, 'lkb_ha_lease');
    const env = { LKB_HA_CLAIM_TTL_MS: String(CLAIM_TTL_MS) };
    replicas = await Promise.all([Replica.start(schema.url, env), Replica.start(schema.url, env)]);
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    dir = mkdtempSync(join(tmpdir(), 'lkb-pg-lease-'));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await db?.end();
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('hands the outbox to the survivor when the holder dies, applying each change once', async () => {
    const log = join(dir, 'applied.log');
    writeFileSync(log, '');
    const now = Date.now();
    const burst = Array.from({ length: 300 }, (_, n) => offence(attackerIp(n), now - 1000, 'burst'));
    await replicas[0]!.deliver(burst.slice(0, 150));

    for (const replica of replicas)
      replica.dispatch({ leaseTtlMs: LEASE_TTL_MS, batch: BATCH, applyMs: 15, log });
    await until(() => replicas.some((r) => r.leaseEvents.at(-1)?.held), 5000);
    const holder = replicas.find((r) => r.leaseEvents.at(-1)?.held)!;
    const survivor = replicas.find((r) => r !== holder)!;
    // More bans arrive through the survivor while the holder is draining.
    const more = survivor.deliver(burst.slice(150));
    await until(() => readFileSync(log, 'utf8').split('\n').length > 100, 10_000);
    await holder.kill();
    const killedAt = Date.now();
    expect((await more).every((d) => d.outcome?.outcome === 'banned')).toBe(true);

    await until(() => survivor.leaseEvents.at(-1)?.held === true, LEASE_TTL_MS * 3);
    expect(survivor.leaseEvents.at(-1)!.at - killedAt).toBeLessThan(LEASE_TTL_MS * 2);
    await until(async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM ban_targets WHERE state = 'applied'`);
      return rows[0].n === 600;
    }, 30_000);

    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const applied = new Map<string, string[]>();
    const markedByHolder = new Set<string>();
    const holderName = `replica-${holder.pid}`;
    for (const line of lines) {
      const [kind, owner, change] = line.split(' ') as [string, string, string];
      if (kind === 'apply') applied.set(change, [...(applied.get(change) ?? []), owner]);
      else if (owner === holderName) markedByHolder.add(change);
    }
    const { rows } = await db.query<{ change: string }>(
      `SELECT id || ':' || version AS change FROM ban_targets`,
    );
    expect(rows).toHaveLength(600);
    // Every change reached its host...
    for (const { change } of rows) expect(applied.has(change)).toBe(true);
    // ...once, except the batch the holder had sent and not yet marked when it died: the survivor
    // re-sends those (adding an element that is already there is harmless).
    const twice = [...applied].filter(([, owners]) => owners.length > 1);
    expect(twice.length).toBeLessThanOrEqual(BATCH);
    for (const [change, owners] of twice) {
      expect(markedByHolder.has(change)).toBe(false);
      expect(owners).toEqual([holderName, `replica-${survivor.pid}`]);
    }
    // Both replicas did part of the work: the holder before it died, the survivor after.
    const owners = new Set([...applied.values()].flat());
    expect(owners).toEqual(new Set([holderName, `replica-${survivor.pid}`]));
  }, 60_000);
});
