/**
 * Numbered schema migrations for the SQLite store, applied in order and recorded in schema_version.
 * Never edit a released migration: add the next number. Times are epoch milliseconds.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
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
