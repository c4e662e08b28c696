import type pg from 'pg';
import {
  type ActiveBan,
  type AuditWrite,
  type BanCause,
  type DecisionPlan,
  decidedOutcome,
  duplicateOutcome,
  historyWindow,
  manualBanCause,
  planDecision,
  planOffence,
  refusedOutcome,
  resolvedRecord,
  type ScreenedOffence,
  type Snapshot,
  screenOffence,
  unbanAudit,
} from '../../domain/decide.js';
import type { DecisionPolicy } from '../../domain/policy.js';
import type { AlertOutcome, Ban, BatchItem, ManualBanRequest, Offence, Source } from '../../domain/types.js';
import { StoreUnavailableError } from '../errors.js';
import type {
  AuditEvent,
  BanQuery,
  BurstRecord,
  OutboxItem,
  RecordedBatch,
  Stats,
  StatsQuery,
  Store,
} from '../port.js';
import {
  type AuditRow,
  type BanRow,
  type ClaimRow,
  clampLimit,
  longestPerIp,
  lookupCandidates,
  mergeCounts,
  shapeStats,
  type TargetRow,
  toAuditEvent,
  toBan,
  toOutboxItem,
  truncateError,
  withdrawnHosts,
} from '../shared.js';
import { createPool, isRetryable, toStoreError } from './connection.js';
import { migrate } from './migrations.js';

/**
 * How long a claimed outbox row stays invisible to other claimers. If the dispatcher that claimed it
 * dies before marking it, the row becomes due again after this and the next lease holder sends it.
 */
export const CLAIM_TTL_MS = 30_000;

/** Deadlocks and serialisation failures roll back cleanly; a few retries absorb them. */
const MAX_ATTEMPTS = 5;

/**
 * Decisions about one network are serialised with a transaction-scoped advisory lock, so two
 * replicas deciding offences of the same IP see each other's bans and escalation counts stay exact.
 * Keys are folded into a fixed number of stripes: a batch of thousands of IPs takes at most this
 * many locks (Postgres' lock table is shared and finite), and every transaction takes its locks in
 * ascending order, so two batches can never deadlock on them.
 */
const DECISION_LOCK_STRIPES = 128;
const DECISION_LOCK_CLASS = 0x6c6b62; // "lkb": the first key of the two-key advisory lock form

const ACTIVE = 'b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > $NOW)';

type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PostgresStoreOptions {
  /** See CLAIM_TTL_MS. */
  claimTtlMs?: number;
}

function active(now: string): string {
  return ACTIVE.replaceAll('$NOW', now);
}

/**
 * The store for several responder replicas on one PostgreSQL database. Semantics are those of the
 * SQLite store (same pure guard and decision, same queries in spirit, one contract suite); what
 * differs is how concurrency is made safe without a single writer:
 * - offence identity is the UNIQUE (fingerprint, starts_at) constraint: a delivery that reaches two
 *   replicas at once inserts once, the other insert does nothing and reports a duplicate;
 * - decisions about one network are serialised by advisory locks (see DECISION_LOCK_STRIPES);
 * - the outbox is claimed with FOR UPDATE SKIP LOCKED plus a claim timeout, and leases are rows
 *   with an expiry, so the dispatcher and reconciler run on one replica at a time and move to
 *   another within the lease ttl if that replica dies.
 * Every failure to reach the database surfaces as StoreUnavailableError within seconds.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly claimTtlMs: number;
  private closed = false;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.pool = createPool(url);
    this.claimTtlMs = options.claimTtlMs ?? CLAIM_TTL_MS;
  }

  async init(): Promise<void> {
    try {
      await migrate(this.pool);
    } catch (error) {
      throw toStoreError(error, 'migration');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.read('ping', (db) => db.query('SELECT 1'));
  }

  // ---------------------------------------------------------------- plumbing

  /** One statement (or a few independent ones) outside a transaction, with errors classified. */
  private async read<T>(what: string, fn: (db: Queryable) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (error) {
      throw toStoreError(error, what);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection, retrying on deadlock or serialisation failure.
   * A connection that failed mid-transaction is discarded rather than returned to the pool.
   */
  private async transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw toStoreError(error, what);
      }
      let broken: Error | undefined;
      // A checked-out client whose connection drops between two queries emits 'error'; unheard, that
      // would crash the process. Remember it instead: the next query fails and the client is discarded.
      const onError = (error: Error) => {
        broken = error;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) continue;
        throw toStoreError(error, what);
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  /** Takes the decision locks of `ips` (see DECISION_LOCK_STRIPES) for the rest of the transaction. */
  private async lockNetworks(client: Queryable, ips: Iterable<string>): Promise<void> {
    const list = [...new Set(ips)];
    if (list.length === 0) return;
    await client.query(
      `SELECT pg_advisory_xact_lock($1::int, stripe)
         FROM (SELECT DISTINCT abs(hashtext(ip) % $2::int) AS stripe
                 FROM unnest($3::text[]) AS ip
                ORDER BY stripe) AS stripes
        ORDER BY stripe`,
      [DECISION_LOCK_CLASS, DECISION_LOCK_STRIPES, list],
    );
  }

  private async loadBans(db: Queryable, rows: BanRow[]): Promise<Ban[]> {
    if (rows.length === 0) return [];
    const { rows: targets } = await db.query<TargetRow>(
      `SELECT ban_id, host, desired, state, attempts, last_error, applied_at
         FROM ban_targets WHERE ban_id = ANY($1::bigint[]) ORDER BY ban_id, host`,
      [rows.map((row) => row.id)],
    );
    const byBan = new Map<number, TargetRow[]>();
    for (const target of targets) {
      const list = byBan.get(target.ban_id);
      if (list) list.push(target);
      else byBan.set(target.ban_id, [target]);
    }
    return rows.map((row) => toBan(row, byBan.get(row.id) ?? []));
  }

  private async loadBan(db: Queryable, id: number): Promise<Ban | undefined> {
    const { rows } = await db.query<BanRow>('SELECT * FROM bans WHERE id = $1', [id]);
    const [ban] = await this.loadBans(db, rows);
    return ban;
  }

  private async audit(db: Queryable, at: number, record: AuditWrite, banId: number | null): Promise<void> {
    await db.query(
      `INSERT INTO audit_events (at, kind, actor, ip, jail, ban_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [at, record.kind, record.actor, record.ip, record.jail, banId, JSON.stringify(record.detail)],
    );
  }

  // ---------------------------------------------------------------- decisions

  async recordBatch(items: BatchItem[], policy: DecisionPolicy, source: Source): Promise<RecordedBatch> {
    const now = policy.now();
    // The guard is pure: run it first, so the transaction knows which networks it decides about.
    const screened = [...items]
      .sort((a, b) => a.index - b.index)
      .map((item) =>
        item.kind === 'offence'
          ? { ...screenOffence(item.index, item.offence, policy, source), offence: item.offence }
          : item,
      );
    const networks = screened.flatMap((item) => (item.kind === 'decide' ? [item.cause.ip] : []));
    return this.transaction('record batch', async (client) => {
      await this.lockNetworks(client, networks);
      const outcomes: AlertOutcome[] = [];
      const wake = new Set<string>();
      for (const item of screened) {
        if (item.kind === 'skip' || item.kind === 'not-active') outcomes.push(item.outcome);
        else if (item.kind === 'resolved')
          outcomes.push(await this.recordResolved(client, item, source, now));
        else outcomes.push(await this.recordOffence(client, item, policy, now, wake));
      }
      return { outcomes, wake: [...wake] };
    });
  }

  private async recordResolved(
    client: Queryable,
    item: Extract<BatchItem, { kind: 'resolved' }>,
    source: Source,
    now: number,
  ): Promise<AlertOutcome> {
    const { rows } = await client.query<{ id: number; ip: string; jail: string; ban_id: number | null }>(
      'SELECT id, ip, jail, ban_id FROM offences WHERE fingerprint = $1 AND starts_at = $2',
      [item.fingerprint, item.startsAt],
    );
    const existing = rows[0];
    const changed = existing
      ? ((
          await client.query('UPDATE offences SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL', [
            existing.id,
            item.endsAt,
          ])
        ).rowCount ?? 0) > 0
      : true;
    const { audit, banId, outcome } = resolvedRecord(item, existing, source);
    if (changed) await this.audit(client, now, audit, banId);
    return outcome;
  }

  /**
   * One offence, under the decision lock of its network. The offence row goes in first: when the same
   * alert reaches two replicas, the second insert meets UNIQUE (fingerprint, starts_at) and the
   * delivery is a duplicate, whichever replica it came through.
   */
  private async recordOffence(
    client: Queryable,
    item: Exclude<ScreenedOffence, { kind: 'not-active' }> & { offence: Offence },
    policy: DecisionPolicy,
    now: number,
    wake: Set<string>,
  ): Promise<AlertOutcome> {
    const { offence, base } = item;
    const inserted = await client.query<{ id: number }>(
      `INSERT INTO offences (fingerprint, starts_at, jail, ip, reported_ip, origin_host, source, received_at, labels, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
       ON CONFLICT (fingerprint, starts_at) DO NOTHING
       RETURNING id`,
      [
        offence.fingerprint,
        offence.startsAt,
        offence.jail,
        base.ip,
        offence.reportedIp,
        offence.originHost ?? null,
        offence.source,
        offence.receivedAt,
        JSON.stringify(offence.labels),
      ],
    );
    const offenceId = inserted.rows[0]?.id;
    if (offenceId === undefined) {
      const { rows } = await client.query<{ ban_id: number | null }>(
        'SELECT ban_id FROM offences WHERE fingerprint = $1 AND starts_at = $2',
        [offence.fingerprint, offence.startsAt],
      );
      return duplicateOutcome(base, rows[0]?.ban_id);
    }
    const settle = (outcome: string, banId: number | null) =>
      client.query('UPDATE offences SET outcome = $2, ban_id = $3 WHERE id = $1', [
        offenceId,
        outcome,
        banId,
      ]);
    if (item.kind === 'ignored') {
      await settle(item.outcome.outcome, null);
      await this.audit(client, now, item.audit, null);
      return item.outcome;
    }
    const plan = planOffence(item.cause, await this.snapshot(client, item.cause, now), now, policy);
    if (plan.outcome === 'ignored-breaker') {
      // Not kept: a repeat delivery once the breaker has room again is decided, not a duplicate.
      await client.query('DELETE FROM offences WHERE id = $1', [offenceId]);
      return refusedOutcome(base, plan);
    }
    const banId = await this.write(client, item.cause, plan, now);
    for (const host of plan.wake) wake.add(host);
    await settle(plan.outcome, banId);
    return decidedOutcome(base, plan, banId);
  }

  /** What the planner needs to know about the cause's network; the caller holds its decision lock. */
  private async snapshot(client: Queryable, cause: BanCause, now: number): Promise<Snapshot> {
    const { ip, jail } = cause;
    const window = historyWindow(jail, now);
    // One round trip for the whole snapshot: the active ban with its hosts, and the earlier bans in
    // the memory window (which only matter when there is no active ban).
    const { rows } = await client.query<{
      id: number | null;
      level: number | null;
      expires_at: number | null;
      hosts: string[] | null;
      earlier: number;
    }>(
      `WITH current AS (
         SELECT b.id, b.level, b.expires_at FROM bans b
          WHERE b.ip = $1 AND b.jail = $2 AND ${active('$3')} ORDER BY b.id DESC LIMIT 1)
       SELECT c.id, c.level, c.expires_at,
              (SELECT array_agg(t.host ORDER BY t.id) FROM ban_targets t
                WHERE t.ban_id = c.id AND t.desired = 'present') AS hosts,
              (SELECT count(*)::int FROM bans h
                WHERE h.ip = $1 AND h.created_at > $4 AND ($5::text IS NULL OR h.jail = $5)) AS earlier
         FROM (SELECT 1) AS one LEFT JOIN current c ON true`,
      [ip, jail.name, now, window.since, window.jail ?? null],
    );
    const history = rows[0]!;
    const current: ActiveBan | undefined =
      history.id === null
        ? undefined
        : {
            id: history.id,
            level: history.level!,
            expiresAt: history.expires_at,
            hosts: history.hosts ?? [],
          };
    return { active: current, earlierBans: history.earlier };
  }

  /** Applies the plan under the same lock; returns the ban it wrote. */
  private async write(client: Queryable, cause: BanCause, plan: DecisionPlan, now: number): Promise<number> {
    const { ip, jail } = cause;
    const { write } = plan;
    let banId: number;
    if (write.kind === 'insert') {
      const { rows } = await client.query<{ id: number }>(
        `INSERT INTO bans (ip, jail, level, created_at, updated_at, expires_at, offences, source, summary, sample)
         VALUES ($1, $2, $3, $4, $4, $5, 1, $6, $7, $8) RETURNING id`,
        [ip, jail.name, write.level, now, write.expiresAt, cause.source, cause.summary, cause.sample],
      );
      banId = rows[0]!.id;
      await this.insertTargets(client, banId, write.targets, now);
    } else {
      banId = write.banId;
      await client.query(
        `UPDATE bans SET updated_at = $2, expires_at = $3, offences = offences + 1,
                summary = COALESCE($4, summary), sample = COALESCE($5, sample)
          WHERE id = $1`,
        [banId, now, write.expiresAt, cause.summary, cause.sample],
      );
      if (write.repend) {
        // The hosts hold the old timeout: re-send, and bump the version so an in-flight completion of
        // the old element cannot mark the new one applied.
        await client.query(
          `UPDATE ban_targets SET state = 'pending', version = version + 1, attempts = 0, next_attempt_at = $2
            WHERE ban_id = $1`,
          [banId, now],
        );
      }
      await this.insertTargets(client, banId, write.addTargets, now);
    }
    if (plan.audit) await this.audit(client, now, plan.audit, banId);
    return banId;
  }

  private async insertTargets(client: Queryable, banId: number, hosts: readonly string[], now: number) {
    if (hosts.length === 0) return;
    // WITH ORDINALITY keeps the hosts' order in the ids, so ties in the outbox drain in decision order.
    await client.query(
      `INSERT INTO ban_targets (ban_id, host, desired, state, attempts, next_attempt_at, version)
       SELECT $1, host, 'present', 'pending', 0, $2, 1 FROM unnest($3::text[]) WITH ORDINALITY AS h(host, n)
        ORDER BY n
       ON CONFLICT (ban_id, host) DO NOTHING`,
      [banId, now, [...hosts]],
    );
  }

  async manualBan(request: ManualBanRequest, policy: DecisionPolicy): Promise<{ ban: Ban; wake: string[] }> {
    const now = policy.now();
    const cause = manualBanCause(request, policy);
    return this.transaction('manual ban', async (client) => {
      await this.lockNetworks(client, [cause.ip]);
      const plan = planDecision(cause, await this.snapshot(client, cause, now), now, policy);
      const banId = await this.write(client, cause, plan, now);
      return { ban: (await this.loadBan(client, banId))!, wake: plan.wake };
    });
  }

  async unban(
    ip: string,
    opts: { jail?: string; actor: string; reason?: string; now: number },
  ): Promise<{ bans: Ban[]; wake: string[] }> {
    const candidates = lookupCandidates(ip);
    if (candidates.length === 0) return { bans: [], wake: [] };
    return this.transaction('unban', async (client) => {
      await this.lockNetworks(client, candidates);
      const { rows } = await client.query<BanRow>(
        `SELECT * FROM bans b WHERE b.ip = ANY($1::text[]) AND ($2::text IS NULL OR b.jail = $2)
            AND ${active('$3')} ORDER BY b.id`,
        [candidates, opts.jail ?? null, opts.now],
      );
      for (const row of rows) {
        await client.query('UPDATE bans SET lifted_at = $2, lifted_by = $3, updated_at = $2 WHERE id = $1', [
          row.id,
          opts.now,
          opts.actor,
        ]);
        await client.query(
          `UPDATE ban_targets SET desired = 'absent', state = 'pending', version = version + 1, attempts = 0,
                  next_attempt_at = $2
            WHERE ban_id = $1`,
          [row.id, opts.now],
        );
        const ban = { ip: row.ip, jail: row.jail, expiresAt: row.expires_at };
        await this.audit(client, opts.now, unbanAudit(ban, opts.actor, opts.reason), row.id);
      }
      const { rows: lifted } = await client.query<BanRow>(
        'SELECT * FROM bans WHERE id = ANY($1::bigint[]) ORDER BY id',
        [rows.map((row) => row.id)],
      );
      const bans = await this.loadBans(client, lifted);
      return { bans, wake: withdrawnHosts(bans) };
    });
  }

  // ---------------------------------------------------------------- reads

  async findBursts(
    queries: ReadonlyArray<{ fingerprint: string; at: number }>,
  ): Promise<Array<BurstRecord | undefined>> {
    if (queries.length === 0) return [];
    return this.read('find bursts', async (db) => {
      // One round trip for a whole webhook group: each query is an index probe of (fingerprint, starts_at).
      const { rows } = await db.query<{ n: number; starts_at: number; ended_at: number | null }>(
        `SELECT q.n, o.starts_at, o.ended_at
           FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS q (fingerprint, at, n)
           CROSS JOIN LATERAL (
             SELECT starts_at, ended_at FROM offences
              WHERE fingerprint = q.fingerprint AND starts_at <= q.at
              ORDER BY starts_at DESC LIMIT 1
           ) o`,
        [queries.map((q) => q.fingerprint), queries.map((q) => q.at)],
      );
      const found = new Map(rows.map((row) => [Number(row.n), row]));
      return queries.map((_query, index) => {
        const row = found.get(index + 1);
        return row ? { startsAt: row.starts_at, endedAt: row.ended_at } : undefined;
      });
    });
  }

  async getBan(id: number): Promise<Ban | undefined> {
    return this.read('get ban', (db) => this.loadBan(db, id));
  }

  async listBans(query: BanQuery, now: number): Promise<Ban[]> {
    return this.read('list bans', async (db) => {
      const { rows } = await db.query<BanRow>(
        `SELECT * FROM bans b
          WHERE ($1::boolean IS NULL OR $1 = (${active('$2')}))
            AND ($3::text IS NULL OR b.jail = $3)
            AND ($4::text[] IS NULL OR b.ip = ANY($4))
            AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM ban_targets t WHERE t.ban_id = b.id AND t.host = $5))
            AND ($6::bigint IS NULL OR b.created_at >= $6)
            AND ($7::bigint IS NULL OR b.created_at < $7)
          ORDER BY b.created_at DESC, b.id DESC
          LIMIT $8`,
        [
          query.active ?? null,
          now,
          query.jail ?? null,
          query.ip === undefined ? null : lookupCandidates(query.ip),
          query.host ?? null,
          query.from ?? null,
          query.to ?? null,
          clampLimit(query.limit),
        ],
      );
      return this.loadBans(db, rows);
    });
  }

  async stats(query: StatsQuery, now: number): Promise<Stats> {
    const window = [query.from, query.to];
    const bucket = Math.max(1, Math.trunc(query.bucketMs));
    return this.read('stats', async (db) => {
      const [series, perIp, perJailWindow, perJailActive, perHostWindow, perHostActive] = await Promise.all([
        db.query<{ time: number; jail: string; bans: number }>(
          `SELECT $1::bigint + ((created_at - $1::bigint) / $3::bigint) * $3::bigint AS time, jail,
                  count(*)::int AS bans
             FROM bans WHERE created_at >= $1 AND created_at < $2
            GROUP BY 1, 2 ORDER BY 1, 2`,
          [...window, bucket],
        ),
        db.query<{ ip: string; bans: number; last: number }>(
          `SELECT ip, count(*)::int AS bans, max(created_at) AS last FROM bans
            WHERE created_at >= $1 AND created_at < $2 GROUP BY ip`,
          window,
        ),
        db.query<{ key: string; bans: number }>(
          `SELECT jail AS key, count(*)::int AS bans FROM bans
            WHERE created_at >= $1 AND created_at < $2 GROUP BY jail`,
          window,
        ),
        db.query<{ key: string; active: number }>(
          `SELECT b.jail AS key, count(*)::int AS active FROM bans b WHERE ${active('$1')} GROUP BY b.jail`,
          [now],
        ),
        db.query<{ key: string; bans: number }>(
          `SELECT t.host AS key, count(*)::int AS bans FROM ban_targets t JOIN bans b ON b.id = t.ban_id
            WHERE b.created_at >= $1 AND b.created_at < $2 GROUP BY t.host`,
          window,
        ),
        db.query<{ key: string; active: number }>(
          `SELECT t.host AS key, count(*)::int AS active FROM ban_targets t JOIN bans b ON b.id = t.ban_id
            WHERE t.desired = 'present' AND ${active('$1')} GROUP BY t.host`,
          [now],
        ),
      ]);
      return shapeStats({
        series: series.rows.map((row) => ({ time: row.time, jail: row.jail, bans: row.bans })),
        perIp: perIp.rows,
        perJail: mergeCounts(perJailWindow.rows, perJailActive.rows, (row) => row.key),
        perHost: mergeCounts(perHostWindow.rows, perHostActive.rows, (row) => row.key),
      });
    });
  }

  async activeBansPerJail(now: number): Promise<Array<{ jail: string; active: number }>> {
    const { rows } = await this.read('active bans per jail', (db) =>
      db.query<{ jail: string; active: number }>(
        `SELECT b.jail, count(*)::int AS active FROM bans b WHERE ${active('$1')} GROUP BY b.jail ORDER BY b.jail`,
        [now],
      ),
    );
    return rows;
  }

  async listAudit(query: { ip?: string; limit?: number; after?: number }): Promise<AuditEvent[]> {
    const limit = clampLimit(query.limit);
    const ip = query.ip ?? null;
    const rows = await this.read('list audit', async (db) =>
      query.after === undefined
        ? (
            await db.query<AuditRow<Record<string, unknown>>>(
              'SELECT * FROM audit_events WHERE ($1::text IS NULL OR ip = $1) ORDER BY id DESC LIMIT $2',
              [ip, limit],
            )
          ).rows
        : (
            await db.query<AuditRow<Record<string, unknown>>>(
              `SELECT * FROM audit_events WHERE id > $1 AND ($2::text IS NULL OR ip = $2) ORDER BY id LIMIT $3`,
              [query.after, ip, limit],
            )
          ).rows,
    );
    return rows.map((row) => toAuditEvent(row, row.detail));
  }

  // ---------------------------------------------------------------- outbox

  async pendingHosts(now: number): Promise<string[]> {
    const { rows } = await this.read('pending hosts', (db) =>
      db.query<{ host: string }>(
        `SELECT DISTINCT host FROM ban_targets WHERE state <> 'applied' AND next_attempt_at <= $1 ORDER BY host`,
        [now],
      ),
    );
    return rows.map((row) => row.host);
  }

  /**
   * Claims due rows of one host. `FOR UPDATE SKIP LOCKED` keeps two claimers from taking the same row
   * at the same moment; pushing `next_attempt_at` out by the claim ttl keeps it theirs after the claim
   * commits, until they mark it or the claim times out (the claimer died). A host's set holds one
   * element per address, so each item carries the union of the address's active bans on the host.
   */
  async claimPending(host: string, limit: number, now: number): Promise<OutboxItem[]> {
    return this.transaction('claim outbox', async (client) => {
      const sameElement = `FROM bans ob JOIN ban_targets ot ON ot.ban_id = ob.id AND ot.host = t.host
         WHERE ob.ip = b.ip AND ot.desired = 'present' AND ob.lifted_at IS NULL
           AND (ob.expires_at IS NULL OR ob.expires_at > $2)`;
      const { rows } = await client.query<ClaimRow>(
        `WITH due AS (
           SELECT id FROM ban_targets
            WHERE host = $1 AND state <> 'applied' AND next_attempt_at <= $2
            ORDER BY next_attempt_at, id
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
         SELECT t.id, t.ban_id, t.host, b.ip, b.jail, t.desired, t.version, t.attempts, t.next_attempt_at,
                (SELECT count(*)::int ${sameElement}) AS active_count,
                (SELECT count(*)::int ${sameElement} AND ob.expires_at IS NULL) AS permanent_count,
                (SELECT max(ob.expires_at) ${sameElement}) AS max_expires
           FROM due JOIN ban_targets t ON t.id = due.id JOIN bans b ON b.id = t.ban_id
          ORDER BY t.next_attempt_at, t.id`,
        [host, now, Math.max(1, Math.trunc(limit))],
      );
      const items: OutboxItem[] = [];
      const expired: ClaimRow[] = [];
      for (const row of rows) {
        const item = toOutboxItem(row);
        if (item) items.push(item);
        else expired.push(row);
      }
      if (expired.length > 0) {
        await client.query(
          `UPDATE ban_targets t SET state = 'applied', last_error = NULL
             FROM unnest($1::bigint[], $2::int[]) AS e(id, version)
            WHERE t.id = e.id AND t.version = e.version`,
          [expired.map((row) => row.id), expired.map((row) => row.version)],
        );
      }
      if (items.length > 0) {
        await client.query('UPDATE ban_targets SET next_attempt_at = $2 WHERE id = ANY($1::bigint[])', [
          items.map((item) => item.targetId),
          now + this.claimTtlMs,
        ]);
      }
      return items;
    });
  }

  async markApplied(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    now: number,
  ): Promise<void> {
    if (items.length === 0) return;
    await this.transaction('mark applied', (client) =>
      client.query(
        `UPDATE ban_targets t
            SET state = 'applied', applied_at = $1, attempts = t.attempts + 1, last_error = NULL
           FROM unnest($2::bigint[], $3::int[]) AS done(id, version)
          WHERE t.id = done.id AND t.version = done.version`,
        [now, items.map((item) => item.targetId), items.map((item) => item.version)],
      ),
    );
  }

  async markFailed(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    error: string,
    nextAttemptAt: number,
  ): Promise<void> {
    if (items.length === 0) return;
    const message = truncateError(error);
    await this.transaction('mark failed', (client) =>
      client.query(
        `UPDATE ban_targets t
            SET state = 'failed', attempts = t.attempts + 1, last_error = $1, next_attempt_at = $2
           FROM unnest($3::bigint[], $4::int[]) AS failed(id, version)
          WHERE t.id = failed.id AND t.version = failed.version`,
        [message, nextAttemptAt, items.map((item) => item.targetId), items.map((item) => item.version)],
      ),
    );
  }

  async desiredForHost(
    host: string,
    now: number,
  ): Promise<Array<{ ip: string; jail: string; expiresAt: number | null }>> {
    const { rows } = await this.read('desired for host', (db) =>
      db.query<{ ip: string; jail: string; expires_at: number | null }>(
        `SELECT b.ip, b.jail, b.expires_at FROM ban_targets t JOIN bans b ON b.id = t.ban_id
          WHERE t.host = $1 AND t.desired = 'present' AND ${active('$2')}
          ORDER BY b.ip, b.id`,
        [host, now],
      ),
    );
    return longestPerIp(rows.map((row) => ({ ip: row.ip, jail: row.jail, expiresAt: row.expires_at })));
  }

  // ---------------------------------------------------------------- leases

  /**
   * One row per lease. The upsert only takes the row over when the caller already owns it (renewal)
   * or it has expired, so a dead holder is replaced within `ttlMs`. Replicas compare their own clocks
   * with the stored expiry: keep them NTP-synchronised, with a ttl well above the expected skew.
   */
  async acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    const { rows } = await this.read('acquire lease', (db) =>
      db.query(
        `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
          WHERE leases.owner = EXCLUDED.owner OR leases.expires_at <= $4
         RETURNING owner`,
        [name, owner, now + ttlMs, now],
      ),
    );
    return rows.length === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.read('release lease', (db) =>
      db.query('DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner]),
    );
  }
}

export { StoreUnavailableError };
