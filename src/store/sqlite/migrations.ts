import type Database from 'better-sqlite3';
import type { Migration } from '../migration.js';

/**
 * Numbered schema migrations for the SQLite store, applied in order and recorded in schema_version.
 * Never edit a released migration: add the next number. Times are epoch milliseconds.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE bans (
        id INTEGER PRIMARY KEY,
        ip TEXT NOT NULL,
        jail TEXT NOT NULL,
        level INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER,
        lifted_at INTEGER,
        lifted_by TEXT,
        offences INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        summary TEXT,
        sample TEXT
      );
      -- active ban by ip + jail, and escalation history by ip (+ jail) inside memory
      CREATE INDEX bans_ip_jail_created ON bans (ip, jail, created_at);
      CREATE INDEX bans_ip_created ON bans (ip, created_at);
      CREATE INDEX bans_created ON bans (created_at);
      CREATE INDEX bans_active ON bans (jail, expires_at) WHERE lifted_at IS NULL;

      CREATE TABLE offences (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        jail TEXT NOT NULL,
        ip TEXT NOT NULL,
        reported_ip TEXT NOT NULL,
        origin_host TEXT,
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        ended_at INTEGER,
        outcome TEXT NOT NULL,
        ban_id INTEGER REFERENCES bans (id),
        labels TEXT NOT NULL,
        UNIQUE (fingerprint, starts_at)
      );
      CREATE INDEX offences_ban ON offences (ban_id);

      -- The outbox: one row per ban and host, drained by the dispatcher.
      CREATE TABLE ban_targets (
        id INTEGER PRIMARY KEY,
        ban_id INTEGER NOT NULL REFERENCES bans (id),
        host TEXT NOT NULL,
        desired TEXT NOT NULL CHECK (desired IN ('present', 'absent')),
        state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        applied_at INTEGER,
        UNIQUE (ban_id, host)
      );
      CREATE INDEX ban_targets_due ON ban_targets (host, next_attempt_at) WHERE state <> 'applied';
      CREATE INDEX ban_targets_host ON ban_targets (host, desired);

      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        ip TEXT,
        jail TEXT,
        ban_id INTEGER,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_events_ip ON audit_events (ip, id);

      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
];

/** Applies every migration newer than the database, each in its own IMMEDIATE transaction. */
export function migrate(db: Database.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  for (const migration of MIGRATIONS) {
    db.transaction(() => {
      // Re-read inside the lock: another process may have applied it while we waited.
      const applied = db.prepare('SELECT 1 FROM schema_version WHERE version = ?').get(migration.version);
      if (applied) return;
      try {
        db.exec(migration.sql);
      } catch (error) {
        throw new Error(
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        );
      }
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
        migration.version,
        Date.now(),
      );
    }).immediate();
  }
  // A database written by a newer lokiban may hold rows this version would misread: refuse to start.
  const { newest } = db.prepare('SELECT MAX(version) AS newest FROM schema_version').get() as {
    newest: number | null;
  };
  const known = MIGRATIONS.at(-1)?.version ?? 0;
  if ((newest ?? 0) > known) {
    throw new Error(
      `the database schema is at version ${newest}, newer than this lokiban (${known}): upgrade lokiban`,
    );
  }
}
