import type { Pool } from 'pg';
import type { Migration } from '../migration.js';

/**
 * Numbered migrations, applied in order, each in its own transaction. Never edit a released entry:
 * append a new one. Times are epoch milliseconds in BIGINT, as in the SQLite store, so both stores
 * share one mapping to the domain types.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE bans (
        id          BIGSERIAL PRIMARY KEY,
        ip          TEXT    NOT NULL,
        jail        TEXT    NOT NULL,
        level       INTEGER NOT NULL,
        created_at  BIGINT  NOT NULL,
        updated_at  BIGINT  NOT NULL,
        expires_at  BIGINT,
        lifted_at   BIGINT,
        lifted_by   TEXT,
        offences    INTEGER NOT NULL DEFAULT 0,
        source      TEXT    NOT NULL,
        summary     TEXT,
        sample      TEXT
      );
      CREATE INDEX bans_ip_jail_created ON bans (ip, jail, created_at);
      CREATE INDEX bans_created ON bans (created_at);
      CREATE INDEX bans_ip_created ON bans (ip, created_at);
      CREATE INDEX bans_active ON bans (jail, expires_at) WHERE lifted_at IS NULL;

      CREATE TABLE offences (
        id           BIGSERIAL PRIMARY KEY,
        fingerprint  TEXT   NOT NULL,
        starts_at    BIGINT NOT NULL,
        jail         TEXT   NOT NULL,
        ip           TEXT   NOT NULL,
        reported_ip  TEXT   NOT NULL,
        origin_host  TEXT,
        source       TEXT   NOT NULL,
        labels       JSONB  NOT NULL,
        received_at  BIGINT NOT NULL,
        outcome      TEXT   NOT NULL,
        ban_id       BIGINT REFERENCES bans (id),
        ended_at     BIGINT,
        -- Offence identity: a second delivery of the same alert (retry, re-send, another replica)
        -- hits this constraint and changes nothing.
        UNIQUE (fingerprint, starts_at)
      );
      CREATE INDEX offences_ban ON offences (ban_id);

      -- The outbox: one row per ban and host, in the state the host's firewall must reach.
      CREATE TABLE ban_targets (
        id               BIGSERIAL PRIMARY KEY,
        ban_id           BIGINT  NOT NULL REFERENCES bans (id),
        host             TEXT    NOT NULL,
        desired          TEXT    NOT NULL CHECK (desired IN ('present', 'absent')),
        state            TEXT    NOT NULL CHECK (state IN ('pending', 'applied', 'failed')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        applied_at       BIGINT,
        next_attempt_at  BIGINT  NOT NULL,
        -- Bumped on every change; a completion only sticks if the version it was claimed at is current.
        version          INTEGER NOT NULL DEFAULT 1,
        UNIQUE (ban_id, host)
      );
      CREATE INDEX ban_targets_due ON ban_targets (host, next_attempt_at) WHERE state <> 'applied';
      CREATE INDEX ban_targets_host ON ban_targets (host, desired);

      CREATE TABLE audit_events (
        id      BIGSERIAL PRIMARY KEY,
        at      BIGINT NOT NULL,
        kind    TEXT   NOT NULL,
        actor   TEXT   NOT NULL,
        ip      TEXT,
        jail    TEXT,
        ban_id  BIGINT,
        detail  JSONB  NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_events_ip ON audit_events (ip, id);

      CREATE TABLE leases (
        name        TEXT   PRIMARY KEY,
        owner       TEXT   NOT NULL,
        expires_at  BIGINT NOT NULL
      );
    `,
  },
];

/**
 * Brings the schema (the first schema on the connection's search_path) up to date. A session-level
 * advisory lock keyed on the schema name serialises concurrent starts: the second replica waits, then
 * finds every migration applied and does nothing.
 */
export async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // See PostgresStore.transaction: a dropped connection must not crash the process.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query(
      `SELECT pg_advisory_lock(hashtextextended('lokiban.migrate.' || current_schema(), 0))`,
    );
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version    INTEGER PRIMARY KEY,
           name       TEXT        NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((row) => row.version));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          );
        }
      }
      const newest = Math.max(...applied, 0);
      const known = MIGRATIONS.at(-1)?.version ?? 0;
      if (newest > known) {
        throw new Error(
          `the database schema is at version ${newest}, newer than this lokiban (${known}): upgrade lokiban`,
        );
      }
    } finally {
      await client.query(
        `SELECT pg_advisory_unlock(hashtextextended('lokiban.migrate.' || current_schema(), 0))`,
      );
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
