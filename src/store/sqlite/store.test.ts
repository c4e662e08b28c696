import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { storeContract } from '../../../test/support/store-contract.js';
import type { Store } from '../port.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteStore } from './store.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-store-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

storeContract('sqlite (temp file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-store-'));
  const file = join(dir, 'nested', 'lokiban.db');
  let current: Store = new SqliteStore(file);
  await current.init();
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = new SqliteStore(file);
      await current.init();
      return current;
    },
    cleanup: async () => {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore specifics', () => {
  it('refuses a zero-length database file instead of starting an empty store in it', async () => {
    const file = join(tempDir(), 'lokiban.db');
    writeFileSync(file, '');
    const store = new SqliteStore(file);
    await expect(store.init()).rejects.toThrow(`${file} is an empty file, not a lokiban database`);
    expect(statSync(file).size).toBe(0);
  });

  it('refuses to start on a database that fails quick_check', async () => {
    const file = join(tempDir(), 'lokiban.db');
    const first = new SqliteStore(file);
    await first.init();
    await first.close();
    // Overwrite the middle of page 2 (the first table's b-tree page) with garbage.
    const db = readFileSync(file);
    const pageSize = db.readUInt16BE(16);
    db.fill(0xa5, pageSize + 8, pageSize * 2 - 8);
    writeFileSync(file, db);
    await expect(new SqliteStore(file).init()).rejects.toThrow(/failed SQLite's quick_check/);
  });

  it('creates the database 0600 in a 0700 directory, its WAL too', async () => {
    const dir = join(tempDir(), 'data');
    const store = new SqliteStore(join(dir, 'lokiban.db'));
    await store.init();
    await store.ping();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'lokiban.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'lokiban.db-wal')).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('refuses a database whose schema is newer than this version', async () => {
    const file = join(tempDir(), 'newer.db');
    const store = new SqliteStore(file);
    await store.init();
    await store.close();
    const db = new Database(file);
    const future = (MIGRATIONS.at(-1)?.version ?? 0) + 1;
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(future, Date.now());
    db.close();
    const older = new SqliteStore(file);
    await expect(older.init()).rejects.toThrow(`schema is at version ${future}, newer than this lokiban`);
    await older.close();
  });

  it('opens in WAL mode with synchronous=FULL and records every migration once', async () => {
    const file = join(tempDir(), 'x.db');
    const first = new SqliteStore(file);
    await first.init();
    await first.close();
    // A second open (a restart) must not re-run migrations.
    const second = new SqliteStore(file);
    await second.init();
    await second.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').all();
      expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((row) => (row as { name: string }).name);
      expect(tables).toEqual(['audit_events', 'ban_targets', 'bans', 'leases', 'offences', 'schema_version']);
    } finally {
      db.close();
    }
    const sync = new SqliteStore(file);
    await sync.init();
    try {
      // synchronous is per connection: read it through the store's own connection.
      const connection = (sync as unknown as { db: Database.Database }).db;
      expect(connection.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await sync.close();
    }
  });

  it('uses the indexes on the hot paths', async () => {
    const file = join(tempDir(), 'plan.db');
    const store = new SqliteStore(file);
    await store.init();
    await store.close();
    const db = new Database(file, { readonly: true });
    const plan = (sql: string) =>
      db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((row) => (row as { detail: string }).detail)
        .join('\n');
    try {
      expect(
        plan("SELECT * FROM bans WHERE ip = '1.2.3.4' AND jail = 'sshd' AND lifted_at IS NULL"),
      ).toContain('bans_ip_jail_created');
      expect(plan("SELECT COUNT(*) FROM bans WHERE ip = '1.2.3.4' AND created_at > 5")).toMatch(
        /bans_ip_(jail_)?created/,
      );
      expect(
        plan("SELECT * FROM ban_targets WHERE host = 'web1' AND state <> 'applied' AND next_attempt_at <= 9"),
      ).toContain('ban_targets_due');
      expect(plan("SELECT 1 FROM offences WHERE fingerprint = 'a' AND starts_at = 1")).toContain(
        'sqlite_autoindex_offences',
      );
    } finally {
      db.close();
    }
  });

  it('refuses calls before init and after close with a clear message', async () => {
    const store = new SqliteStore(join(tempDir(), 'closed.db'));
    await expect(store.ping()).rejects.toThrow('call init() first');
    await store.init();
    await store.close();
    await expect(store.listBans({}, 0)).rejects.toThrow('call init() first');
  });
});
