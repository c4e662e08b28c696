import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOSTS, haPolicy, offence } from '../../../test/ha/fixtures.js';
import { freePort } from '../../../test/support/port.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../../../test/support/postgres.js';
import { storeContract } from '../../../test/support/store-contract.js';
import { StoreUnavailableError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';
import { PostgresStore } from './store.js';

const baseUrl = postgresTestUrl();
const NOW = Date.UTC(2026, 10, 27, 8);

if (baseUrl) {
  storeContract('postgres (schema per test)', async () => {
    const schema = await createTestSchema(baseUrl, 'lkb_pg_contract');
    let current = new PostgresStore(schema.url);
    await current.init();
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = new PostgresStore(schema.url);
        await current.init();
        return current;
      },
      cleanup: async () => {
        await current.close();
        await schema.drop();
      },
    };
  });
}

describe.skipIf(!baseUrl)('PostgresStore specifics', () => {
  let schema: TestSchema;
  const stores: PostgresStore[] = [];
  const open = async (options?: { claimTtlMs?: number }) => {
    const store = new PostgresStore(schema.url, options);
    stores.push(store);
    await store.init();
    return store;
  };

  beforeEach(async () => {
    schema = await createTestSchema(baseUrl!);
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await schema.drop();
  });

  it('migrates once when several replicas start at the same moment', async () => {
    await Promise.all(Array.from({ length: 4 }, () => open()));
    const db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    const { rows } = await db.query('SELECT version FROM schema_migrations ORDER BY version');
    await db.end();
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('grants a lease to one owner until it expires, then to the next', async () => {
    const [a, b] = [await open(), await open()];
    expect(await a.acquireLease('dispatcher', 'a', 1000, NOW)).toBe(true);
    expect(await b.acquireLease('dispatcher', 'b', 1000, NOW + 10)).toBe(false);
    expect(await a.acquireLease('dispatcher', 'a', 1000, NOW + 900)).toBe(true); // renewal
    expect(await b.acquireLease('dispatcher', 'b', 1000, NOW + 1800)).toBe(false);
    expect(await b.acquireLease('dispatcher', 'b', 1000, NOW + 1900)).toBe(true); // a went silent
    expect(await a.acquireLease('dispatcher', 'a', 1000, NOW + 1950)).toBe(false);
    await a.releaseLease('dispatcher', 'a'); // not the owner: no effect
    expect(await a.acquireLease('dispatcher', 'a', 1000, NOW + 2000)).toBe(false);
    await b.releaseLease('dispatcher', 'b');
    expect(await a.acquireLease('dispatcher', 'a', 1000, NOW + 2000)).toBe(true);
  });

  it('gives concurrent claimers disjoint rows and re-offers a dead claimer’s rows after the claim ttl', async () => {
    const [a, b] = [await open({ claimTtlMs: 5000 }), await open({ claimTtlMs: 5000 })];
    const alerts = Array.from({ length: 40 }, (_, n) => offence(`198.18.1.${n + 1}`, NOW - 1000, 'claim'));
    await a.recordBatch(
      alerts.map((o, index) => ({ kind: 'offence', index, offence: o })),
      haPolicy(NOW),
      'alertmanager',
    );
    const [first, second] = await Promise.all([
      a.claimPending('web1', 30, NOW),
      b.claimPending('web1', 30, NOW),
    ]);
    const ids = [...first, ...second].map((item) => item.targetId);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect(await a.claimPending('web1', 100, NOW + 1000)).toEqual([]);

    await a.markApplied(first, NOW + 1000);
    const again = await b.claimPending('web1', 100, NOW + 5000);
    expect(again.map((item) => item.targetId).sort()).toEqual(second.map((item) => item.targetId).sort());
    expect(await a.pendingHosts(NOW + 5000)).toEqual(['web2']);
  });

  it('only lets a completion stick when the row did not change after the claim', async () => {
    const store = await open();
    const ip = '198.18.2.1';
    await store.recordBatch(
      [{ kind: 'offence', index: 0, offence: offence(ip, NOW - 1000, 'v1') }],
      haPolicy(NOW),
      'alertmanager',
    );
    const [claimed] = await store.claimPending('web1', 10, NOW);
    // A later offence extends the ban while the old timeout is on its way to the host.
    await store.recordBatch(
      [{ kind: 'offence', index: 0, offence: offence(ip, NOW + 1000, 'v2') }],
      haPolicy(NOW + 60_000),
      'alertmanager',
    );
    await store.markApplied([claimed!], NOW + 61_000);
    const [pending] = await store.claimPending('web1', 10, NOW + 61_000);
    expect(pending?.targetId).toBe(claimed!.targetId);
    expect(pending?.version).toBe(claimed!.version + 1);
    expect(pending?.expiresAt).toBe(NOW + 60_000 + 600_000);
  });

  it('decides the same offence once when two stores race on it', async () => {
    const [a, b] = [await open(), await open()];
    const same = offence('198.18.3.1', NOW - 1000, 'race');
    const item = [{ kind: 'offence' as const, index: 0, offence: same }];
    const results = await Promise.all([
      a.recordBatch(item, haPolicy(NOW), 'alertmanager').then((result) => result.outcomes),
      b.recordBatch(item, haPolicy(NOW), 'grafana').then((result) => result.outcomes),
    ]);
    expect(results.map(([outcome]) => outcome!.outcome).sort()).toEqual(['banned', 'duplicate']);
    const bans = await a.listBans({ ip: '198.18.3.1' }, NOW);
    expect(bans).toHaveLength(1);
    expect(bans[0]!.hosts.map((h) => h.host)).toEqual([...HOSTS]);
  });

  it('counts the bans in force per jail for the metrics gauge, as stats() does', async () => {
    const store = await open();
    await store.recordBatch(
      ['198.18.6.1', '198.18.6.2'].map((ip, index) => ({
        kind: 'offence' as const,
        index,
        offence: offence(ip, NOW - 1000, 'gauge'),
      })),
      haPolicy(NOW),
      'alertmanager',
    );
    await store.unban('198.18.6.2', { actor: 'test', now: NOW + 1 });
    expect(await store.activeBansPerJail(NOW + 1)).toEqual([{ jail: 'sshd', active: 1 }]);
    const stats = await store.stats({ from: NOW - 1000, to: NOW + 1000, bucketMs: 1000 }, NOW + 1);
    expect(stats.perJail.map(({ jail, active }) => ({ jail, active }))).toEqual([
      { jail: 'sshd', active: 1 },
    ]);
    // Expired bans no longer count.
    expect(await store.activeBansPerJail(NOW + 700_000)).toEqual([]);
  });

  it('records a batch in one transaction: a failing item leaves nothing behind', async () => {
    const store = await open();
    const good = offence('198.18.4.1', NOW - 1000, 'atomic');
    // Postgres text cannot hold NUL: the second insert fails after the first succeeded.
    const bad = { ...offence('198.18.4.2', NOW - 1000, 'atomic'), fingerprint: 'nul\u0000byte' };
    await expect(
      store
        .recordBatch(
          [
            { kind: 'offence', index: 0, offence: good },
            { kind: 'offence', index: 1, offence: bad },
          ],
          haPolicy(NOW),
          'alertmanager',
        )
        .then((result) => result.outcomes),
    ).rejects.toThrow();
    expect(await store.listBans({}, NOW)).toEqual([]);
    const [again] = (
      await store.recordBatch([{ kind: 'offence', index: 0, offence: good }], haPolicy(NOW), 'alertmanager')
    ).outcomes;
    expect(again!.outcome).toBe('banned');
  });
});

describe('PostgresStore without a server', () => {
  const stores: PostgresStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('fails fast with StoreUnavailableError when nothing listens', async () => {
    const port = await freePort();
    const store = new PostgresStore(`postgres://lokiban:lokiban@127.0.0.1:${port}/lokiban`);
    stores.push(store);
    const started = performance.now();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(
      store
        .recordBatch(
          [{ kind: 'offence', index: 0, offence: offence('198.18.5.1', NOW, 'down') }],
          haPolicy(NOW),
          'alertmanager',
        )
        .then((result) => result.outcomes),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
