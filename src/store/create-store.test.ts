import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { haPolicy, offence } from '../../test/ha/fixtures.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../../test/support/postgres.js';
import { createStore } from './index.js';
import type { Store } from './port.js';
import { PostgresStore } from './postgres/store.js';
import { SqliteStore } from './sqlite/store.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const pgUrl = postgresTestUrl();

/** What server.ts does with the store it gets: init, a delivery, the /metrics gauge's read, close. */
async function exercise(store: Store): Promise<void> {
  await store.init();
  try {
    const items = ['198.18.9.1', '198.18.9.2'].map((ip, index) => ({
      kind: 'offence' as const,
      index,
      offence: offence(ip, NOW - 1000, 'create-store'),
    }));
    const recorded = await store.recordBatch(items, haPolicy(NOW), 'alertmanager');
    expect(recorded.outcomes.map((o) => o.outcome)).toEqual(['banned', 'banned']);
    expect(recorded.wake.length).toBeGreaterThan(0);
    // The gauge's own query, not the full stats: the method must reach the caller through createStore.
    const perJail = await store.activeBansPerJail(NOW);
    const { perJail: fromStats } = await store.stats({ from: NOW, to: NOW, bucketMs: 3_600_000 }, NOW);
    expect(perJail).toEqual(fromStats.map(({ jail, active }) => ({ jail, active })));
    expect(perJail.reduce((sum, row) => sum + row.active, 0)).toBe(2);
  } finally {
    await store.close();
  }
}

describe('createStore', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('returns the SQLite engine itself for { sqlite }', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lokiban-create-'));
    dirs.push(dir);
    const store = await createStore({ sqlite: join(dir, 'cfg.db') });
    expect(store).toBeInstanceOf(SqliteStore);
    await exercise(store);
  });

  it('fails init clearly when the Postgres server cannot be reached', async () => {
    const store = await createStore({ postgres: 'postgres://nobody@127.0.0.1:1/none' });
    expect(store).toBeInstanceOf(PostgresStore);
    await expect(store.init()).rejects.toThrow();
    await store.close();
  });

  describe.skipIf(!pgUrl)('on Postgres', () => {
    it('returns the Postgres engine itself for { postgres }, with activeBansPerJail', async () => {
      const schema: TestSchema = await createTestSchema(pgUrl!);
      try {
        const store = await createStore({ postgres: schema.url });
        expect(store).toBeInstanceOf(PostgresStore);
        await exercise(store);
      } finally {
        await schema.drop();
      }
    });
  });
});
