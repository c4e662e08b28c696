import type pg from 'pg';
import { type ActiveBan, decide, historyWindow } from '../domain/decide.js';
import { checkGuard } from '../domain/guard.js';
import { formatNetwork, parseNetwork } from '../domain/ip.js';
import type { AlertOutcome, Ban, BanTargetState, Offence, Source } from '../domain/types.js';
import { StoreUnavailableError } from './errors.js';
import type {
  AuditEvent,
  BanQuery,
  BatchItem,
  DecisionPolicy,
  ManualBanRequest,
  OutboxItem,
  Stats,
  StatsQuery,
  Store,
} from './port.js';
import { createPool, isRetryable, toStoreError } from './postgres-connection.js';
import { migrate } from './postgres-schema.js';

/**
 * How long a claimed outbox row stays invisible to other claimers. If the dispatcher that claimed it
 * dies before marking it, the row becomes due again after this, and another replica applies it.
 */
export const CLAIM_TTL_MS = 60_000;

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

type Queryable = Pick<pg.PoolClient, 'query'>;

interface BanRow {
  id: number;
  ip: string;
  jail: string;
  level: number;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  lifted_at: number | null;
  lifted_by: string | null;
  offences: number;
  source: Source;
  summary: string | null;
  sample: string | null;
}

interface TargetRow {
  ban_id: number;
  host: string;
  desired: 'present' | 'absent';
  state: BanTargetState['state'];
  attempts: number;
  last_error: string | null;
  applied_at: number | null;
}

export interface PostgresStoreOptions {
  /** See CLAIM_TTL_MS. */
  claimTtlMs?: number;
}

/** How many entries the top-N lists of stats() carry. */
const TOP = 10;

/** Attackers rotate inside their provider's block: group IPv4 by /24 and IPv6 by /64. */
function topPrefixes(rows: Array<{ ip: string; bans: number }>): Stats['topPrefixes'] {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const net = parseNetwork(row.ip);
    if (!net) continue;
    const wide = net.family === 4 ? 24 : 64;
    const prefix = net.prefix <= wide ? net : { ...parseNetwork(`${net.address}/${wide}`)! };
    const key = `${prefix.address}/${prefix.prefix}`;
    counts.set(key, (counts.get(key) ?? 0) + row.bans);
  }
  return [...counts]
    .map(([prefix, bans]) => ({ prefix, bans }))
    .sort((a, b) => b.bans - a.bans || a.prefix.localeCompare(b.prefix))
    .slice(0, TOP);
}

function until(expiresAt: number | null): string {
  return expiresAt === null ? 'permanent' : new Date(expiresAt).toISOString();
}

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
    await this.query('ping', 'SELECT 1');
  }

  // ---------------------------------------------------------------- plumbing

  private async query<R extends pg.QueryResultRow>(
    what: string,
    text: string,
    values: unknown[] = [],
  ): Promise<R[]> {
    try {
      const result = await this.pool.query<R>(text, values);
      return result.rows;
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

  private async hydrate(client: Queryable, rows: BanRow[]): Promise<Ban[]> {
    if (rows.length === 0) return [];
    const { rows: targets } = await client.query<TargetRow>(
      `SELECT ban_id, host, desired, state, attempts, last_error, applied_at
         FROM ban_targets WHERE ban_id = ANY($1::bigint[]) ORDER BY host`,
      [rows.map((row) => row.id)],
    );
    const byBan = new Map<number, BanTargetState[]>();
    for (const target of targets) {
      const list = byBan.get(target.ban_id) ?? [];
      list.push({
        host: target.host,
        desired: target.desired,
        state: target.state,
        attempts: target.attempts,
        lastError: target.last_error,
        appliedAt: target.applied_at,
      });
      byBan.set(target.ban_id, list);
    }
    return rows.map((row) => ({
      id: row.id,
      ip: row.ip,
      jail: row.jail,
      level: row.level,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      expiresAt: row.expires_at,
      liftedAt: row.lifted_at,
      liftedBy: row.lifted_by,
      offences: row.offences,
      source: row.source,
      summary: row.summary,
      sample: row.sample,
      hosts: byBan.get(row.id) ?? [],
    }));
  }

  // ---------------------------------------------------------------- decisions

  async recordBatch(items: BatchItem[], policy: DecisionPolicy, source: Source): Promise<AlertOutcome[]> {
    const ordered = [...items].sort((a, b) => a.index - b.index);
    const networks = ordered.flatMap((item) => (item.kind === 'offence' ? [item.offence.ip] : []));
    return this.transaction('record batch', async (client) => {
      const now = policy.now();
      await this.lockNetworks(client, networks);
      const outcomes: AlertOutcome[] = [];
      for (const item of ordered) {
        if (item.kind === 'skip') outcomes.push(item.outcome);
        else if (item.kind === 'resolved') outcomes.push(await this.recordResolved(client, item));
        else outcomes.push(await this.decideOffence(client, item.index, item.offence, policy, source, now));
      }
      return outcomes;
    });
  }

  private async recordResolved(
    client: Queryable,
    item: Extract<BatchItem, { kind: 'resolved' }>,
  ): Promise<AlertOutcome> {
    await client.query('UPDATE offences SET ends_at = $3 WHERE fingerprint = $1 AND starts_at = $2', [
      item.fingerprint,
      item.startsAt,
      item.endsAt,
    ]);
    return {
      index: item.index,
      outcome: 'resolved-recorded',
      fingerprint: item.fingerprint,
      ...(item.ip === undefined ? {} : { ip: item.ip }),
      ...(item.jail === undefined ? {} : { jail: item.jail }),
    };
  }

  /**
   * One offence, under the decision lock of its network. The offence row goes in first: when the same
   * alert reaches two replicas, the second insert hits UNIQUE (fingerprint, starts_at) and the
   * delivery is a duplicate, whichever replica it came through.
   */
  private async decideOffence(
    client: Queryable,
    index: number,
    offence: Offence,
    policy: DecisionPolicy,
    source: Source,
    now: number,
  ): Promise<AlertOutcome> {
    const base = { index, fingerprint: offence.fingerprint, ip: offence.ip, jail: offence.jail };
    const inserted = await client.query<{ id: number }>(
      `INSERT INTO offences (fingerprint, starts_at, jail, ip, reported_ip, origin_host, source, labels, received_at, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
       ON CONFLICT (fingerprint, starts_at) DO NOTHING
       RETURNING id`,
      [
        offence.fingerprint,
        offence.startsAt,
        offence.jail,
        offence.ip,
        offence.reportedIp,
        offence.originHost ?? null,
        offence.source,
        JSON.stringify(offence.labels),
        offence.receivedAt,
      ],
    );
    const offenceId = inserted.rows[0]?.id;
    if (offenceId === undefined) return { ...base, outcome: 'duplicate' };

    const settle = async (outcome: AlertOutcome): Promise<AlertOutcome> => {
      await client.query('UPDATE offences SET outcome = $2, ban_id = $3 WHERE id = $1', [
        offenceId,
        outcome.outcome,
        outcome.banId ?? null,
      ]);
      return outcome;
    };

    const verdict = checkGuard(
      offence.reportedIp,
      offence.jail,
      { jails: policy.jails, protectedNetworks: policy.protectedNetworks },
      offence.ip,
    );
    if (!verdict.allowed) return settle({ ...base, outcome: verdict.outcome, reason: verdict.reason });
    const ip = formatNetwork(verdict.network);
    const targets = policy.targetsFor(verdict.jail, offence.originHost);
    if (targets.length === 0) {
      return settle({
        ...base,
        ip,
        outcome: 'ignored-no-targets',
        reason: `jail "${verdict.jail.name}" reaches no host`,
      });
    }
    const result = await this.applyDecision(client, {
      ip,
      jail: verdict.jail,
      targets,
      now,
      random: policy.random,
      source,
      actor: source,
      summary: offence.summary ?? null,
      sample: offence.sample ?? null,
    });
    return settle({ ...base, ip, ...result });
  }

  /** Reads the history of `ip` (the caller holds its decision lock), decides, and writes the result. */
  private async applyDecision(
    client: Queryable,
    input: {
      ip: string;
      jail: import('../config/load.js').JailSettings;
      targets: readonly string[];
      now: number;
      random: () => number;
      source: Source;
      actor: string;
      summary: string | null;
      sample: string | null;
      duration?: number;
      reason?: string;
    },
  ): Promise<Pick<AlertOutcome, 'outcome' | 'banId' | 'until' | 'level'>> {
    const { ip, jail, now } = input;
    const window = historyWindow(jail, now);
    const { rows: counts } = await client.query<{ earlier: number }>(
      `SELECT count(*)::int AS earlier FROM bans
        WHERE ip = $1 AND created_at > $2 AND ($3::text IS NULL OR jail = $3)`,
      [ip, window.since, window.jail ?? null],
    );
    const { rows: activeRows } = await client.query<{
      id: number;
      level: number;
      expires_at: number | null;
      hosts: string[];
    }>(
      `SELECT b.id, b.level, b.expires_at,
              coalesce(array_agg(t.host) FILTER (WHERE t.desired = 'present'), '{}') AS hosts
         FROM bans b LEFT JOIN ban_targets t ON t.ban_id = b.id
        WHERE b.ip = $1 AND b.jail = $2 AND b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > $3)
        GROUP BY b.id ORDER BY b.id DESC LIMIT 1`,
      [ip, jail.name, now],
    );
    const activeRow = activeRows[0];
    const active: ActiveBan | undefined = activeRow && {
      id: activeRow.id,
      level: activeRow.level,
      expiresAt: activeRow.expires_at,
      hosts: activeRow.hosts,
    };
    const decision = decide({
      jail,
      now,
      random: input.random,
      earlierBans: counts[0]?.earlier ?? 0,
      active,
      targets: input.targets,
      ...(input.duration === undefined ? {} : { duration: input.duration }),
    });

    if (decision.kind === 'ban') {
      const { rows } = await client.query<{ id: number }>(
        `INSERT INTO bans (ip, jail, level, created_at, updated_at, expires_at, offences, source, summary, sample)
         VALUES ($1, $2, $3, $4, $4, $5, 1, $6, $7, $8) RETURNING id`,
        [ip, jail.name, decision.level, now, decision.expiresAt, input.source, input.summary, input.sample],
      );
      const banId = rows[0]!.id;
      await this.addTargets(client, banId, decision.targets, now);
      await this.audit(client, now, 'ban', input.actor, ip, jail.name, banId, {
        level: decision.level,
        expiresAt: decision.expiresAt,
        hosts: decision.targets,
        ...(input.reason === undefined ? {} : { reason: input.reason }),
      });
      return { outcome: 'banned', banId, until: until(decision.expiresAt), level: decision.level };
    }
    if (decision.kind === 'extend') {
      const previous = active!.expiresAt;
      await client.query(
        'UPDATE bans SET expires_at = $2, updated_at = $3, offences = offences + 1 WHERE id = $1',
        [decision.banId, decision.expiresAt, now],
      );
      if (decision.expiresAt !== previous) {
        // The hosts hold the old timeout: every target must be re-sent with the new one.
        await client.query(
          `UPDATE ban_targets SET state = 'pending', version = version + 1, next_attempt_at = $2
            WHERE ban_id = $1 AND desired = 'present'`,
          [decision.banId, now],
        );
      }
      await this.addTargets(client, decision.banId, decision.addTargets, now);
      await this.audit(client, now, 'extend', input.actor, ip, jail.name, decision.banId, {
        level: decision.level,
        expiresAt: decision.expiresAt,
        previousExpiresAt: previous,
        addedHosts: decision.addTargets,
        ...(input.reason === undefined ? {} : { reason: input.reason }),
      });
      return {
        outcome: 'extended',
        banId: decision.banId,
        until: until(decision.expiresAt),
        level: decision.level,
      };
    }
    await client.query('UPDATE bans SET offences = offences + 1 WHERE id = $1', [decision.banId]);
    return {
      outcome: 'unchanged',
      banId: decision.banId,
      until: until(decision.expiresAt),
      level: decision.level,
    };
  }

  private async addTargets(client: Queryable, banId: number, hosts: readonly string[], now: number) {
    if (hosts.length === 0) return;
    await client.query(
      `INSERT INTO ban_targets (ban_id, host, desired, state, next_attempt_at)
       SELECT $1, host, 'present', 'pending', $2 FROM unnest($3::text[]) AS host
       ON CONFLICT (ban_id, host) DO NOTHING`,
      [banId, now, [...hosts]],
    );
  }

  private async audit(
    client: Queryable,
    at: number,
    kind: string,
    actor: string,
    ip: string | null,
    jail: string | null,
    banId: number | null,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await client.query(
      `INSERT INTO audit_events (at, kind, actor, ip, jail, ban_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [at, kind, actor, ip, jail, banId, JSON.stringify(detail)],
    );
  }

  async manualBan(request: ManualBanRequest, policy: DecisionPolicy): Promise<Ban> {
    const verdict = checkGuard(
      request.ip,
      request.jail,
      { jails: policy.jails, protectedNetworks: policy.protectedNetworks },
      request.ip,
    );
    if (!verdict.allowed) throw new Error(verdict.reason);
    const ip = formatNetwork(verdict.network);
    const targets = request.hosts ?? policy.targetsFor(verdict.jail, undefined);
    return this.transaction('manual ban', async (client) => {
      const now = policy.now();
      await this.lockNetworks(client, [ip]);
      const result = await this.applyDecision(client, {
        ip,
        jail: verdict.jail,
        targets,
        now,
        random: policy.random,
        source: 'manual',
        actor: request.actor,
        summary: request.reason ?? null,
        sample: null,
        ...(request.duration === undefined ? {} : { duration: request.duration }),
        ...(request.reason === undefined ? {} : { reason: request.reason }),
      });
      const { rows } = await client.query<BanRow>('SELECT * FROM bans WHERE id = $1', [result.banId]);
      const [ban] = await this.hydrate(client, rows);
      return ban!;
    });
  }

  async unban(
    ip: string,
    opts: { jail?: string; actor: string; reason?: string; now: number },
  ): Promise<Ban[]> {
    return this.transaction('unban', async (client) => {
      await this.lockNetworks(client, [ip]);
      const { rows } = await client.query<BanRow>(
        `UPDATE bans SET lifted_at = $3, lifted_by = $4, updated_at = $3
          WHERE ip = $1 AND ($2::text IS NULL OR jail = $2) AND lifted_at IS NULL
            AND (expires_at IS NULL OR expires_at > $3)
          RETURNING *`,
        [ip, opts.jail ?? null, opts.now, opts.actor],
      );
      if (rows.length === 0) return [];
      const ids = rows.map((row) => row.id);
      await client.query(
        `UPDATE ban_targets SET desired = 'absent', state = 'pending', version = version + 1, next_attempt_at = $2
          WHERE ban_id = ANY($1::bigint[])`,
        [ids, opts.now],
      );
      for (const row of rows) {
        await this.audit(client, opts.now, 'unban', opts.actor, row.ip, row.jail, row.id, {
          ...(opts.reason === undefined ? {} : { reason: opts.reason }),
        });
      }
      return this.hydrate(
        client,
        rows.sort((a, b) => a.id - b.id),
      );
    });
  }

  // ---------------------------------------------------------------- reads

  async getBan(id: number): Promise<Ban | undefined> {
    const rows = await this.query<BanRow>('get ban', 'SELECT * FROM bans WHERE id = $1', [id]);
    const [ban] = await this.hydrateOrThrow('get ban', rows);
    return ban;
  }

  async listBans(query: BanQuery, now: number): Promise<Ban[]> {
    const rows = await this.query<BanRow>(
      'list bans',
      `SELECT * FROM bans b
        WHERE ($1::boolean IS NULL
               OR $1 = (b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > $2)))
          AND ($3::text IS NULL OR b.jail = $3)
          AND ($4::text IS NULL OR b.ip = $4)
          AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM ban_targets t WHERE t.ban_id = b.id AND t.host = $5))
          AND ($6::bigint IS NULL OR b.created_at >= $6)
          AND ($7::bigint IS NULL OR b.created_at <= $7)
        ORDER BY b.created_at DESC, b.id DESC
        LIMIT $8`,
      [
        query.active ?? null,
        now,
        query.jail ?? null,
        query.ip ?? null,
        query.host ?? null,
        query.from ?? null,
        query.to ?? null,
        query.limit ?? 1000,
      ],
    );
    return this.hydrateOrThrow('list bans', rows);
  }

  private async hydrateOrThrow(what: string, rows: BanRow[]): Promise<Ban[]> {
    try {
      return await this.hydrate(this.pool, rows);
    } catch (error) {
      throw toStoreError(error, what);
    }
  }

  async listAudit(query: { ip?: string; limit?: number; after?: number }): Promise<AuditEvent[]> {
    const rows = await this.query<{
      id: number;
      at: number;
      kind: string;
      actor: string;
      ip: string | null;
      jail: string | null;
      ban_id: number | null;
      detail: Record<string, unknown>;
    }>(
      'list audit',
      `SELECT * FROM audit_events
        WHERE ($1::text IS NULL OR ip = $1) AND ($2::bigint IS NULL OR id > $2)
        ORDER BY id LIMIT $3`,
      [query.ip ?? null, query.after ?? null, query.limit ?? 1000],
    );
    return rows.map((row) => ({
      id: row.id,
      at: row.at,
      kind: row.kind,
      actor: row.actor,
      ip: row.ip,
      jail: row.jail,
      banId: row.ban_id,
      detail: row.detail,
    }));
  }

  async stats(query: StatsQuery, now: number): Promise<Stats> {
    const active = '(b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > $3))';
    const params = [query.from, query.to, now];
    try {
      const [series, topIps, perJail, perHost] = await Promise.all([
        this.pool.query<{ time: number; jail: string; bans: number }>(
          `SELECT $1::bigint + ((b.created_at - $1::bigint) / $4::bigint) * $4::bigint AS time, b.jail,
                  count(*)::int AS bans
             FROM bans b WHERE b.created_at >= $1 AND b.created_at < $2 AND $3::bigint IS NOT NULL
            GROUP BY 1, 2 ORDER BY 1, 2`,
          [...params, query.bucketMs],
        ),
        this.pool.query<{ ip: string; bans: number; last_ban_at: number }>(
          `SELECT b.ip, count(*)::int AS bans, max(b.created_at) AS last_ban_at
             FROM bans b WHERE b.created_at >= $1 AND b.created_at < $2 AND $3::bigint IS NOT NULL
            GROUP BY b.ip ORDER BY bans DESC, last_ban_at DESC, b.ip LIMIT ${TOP}`,
          params,
        ),
        this.pool.query<{ jail: string; bans: number; active: number }>(
          `SELECT b.jail,
                  count(*) FILTER (WHERE b.created_at >= $1 AND b.created_at < $2)::int AS bans,
                  count(*) FILTER (WHERE ${active})::int AS active
             FROM bans b GROUP BY b.jail
           HAVING count(*) FILTER (WHERE (b.created_at >= $1 AND b.created_at < $2) OR ${active}) > 0
            ORDER BY b.jail`,
          params,
        ),
        this.pool.query<{ host: string; bans: number; active: number }>(
          `SELECT t.host,
                  count(*) FILTER (WHERE b.created_at >= $1 AND b.created_at < $2)::int AS bans,
                  count(*) FILTER (WHERE t.desired = 'present' AND ${active})::int AS active
             FROM ban_targets t JOIN bans b ON b.id = t.ban_id GROUP BY t.host
           HAVING count(*) FILTER (WHERE (b.created_at >= $1 AND b.created_at < $2)
                                      OR (t.desired = 'present' AND ${active})) > 0
            ORDER BY t.host`,
          params,
        ),
      ]);
      const prefixes = await this.pool.query<{ ip: string; bans: number }>(
        `SELECT b.ip, count(*)::int AS bans FROM bans b
          WHERE b.created_at >= $1 AND b.created_at < $2 GROUP BY b.ip`,
        [query.from, query.to],
      );
      return {
        series: series.rows,
        topIps: topIps.rows.map((row) => ({ ip: row.ip, bans: row.bans, lastBanAt: row.last_ban_at })),
        topPrefixes: topPrefixes(prefixes.rows),
        perJail: perJail.rows,
        perHost: perHost.rows,
      };
    } catch (error) {
      throw toStoreError(error, 'stats');
    }
  }

  // ---------------------------------------------------------------- outbox

  async pendingHosts(now: number): Promise<string[]> {
    const rows = await this.query<{ host: string }>(
      'pending hosts',
      `SELECT DISTINCT host FROM ban_targets
        WHERE state <> 'applied' AND next_attempt_at <= $1 ORDER BY host`,
      [now],
    );
    return rows.map((row) => row.host);
  }

  /**
   * Claims due rows of one host. `FOR UPDATE SKIP LOCKED` keeps two claimers from taking the same
   * row at the same moment; pushing `next_attempt_at` out by CLAIM_TTL_MS keeps it theirs after the
   * claim commits, until they mark it or the claim times out (the claimer died).
   */
  async claimPending(host: string, limit: number, now: number): Promise<OutboxItem[]> {
    return this.transaction('claim outbox', async (client) => {
      const { rows } = await client.query<{
        id: number;
        ban_id: number;
        host: string;
        ip: string;
        jail: string;
        desired: 'present' | 'absent';
        expires_at: number | null;
        version: number;
        attempts: number;
      }>(
        `WITH due AS (
           SELECT t.id FROM ban_targets t
            WHERE t.host = $1 AND t.state <> 'applied' AND t.next_attempt_at <= $2
            ORDER BY t.next_attempt_at, t.id
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
         UPDATE ban_targets t SET next_attempt_at = $2 + $4::bigint
           FROM due, bans b
          WHERE t.id = due.id AND b.id = t.ban_id
         RETURNING t.id, t.ban_id, t.host, b.ip, b.jail, t.desired, b.expires_at, t.version, t.attempts`,
        [host, now, limit, this.claimTtlMs],
      );
      return rows
        .sort((a, b) => a.id - b.id)
        .map((row) => ({
          targetId: row.id,
          banId: row.ban_id,
          host: row.host,
          ip: row.ip,
          jail: row.jail,
          desired: row.desired,
          expiresAt: row.expires_at,
          version: row.version,
          attempts: row.attempts,
        }));
    });
  }

  async markApplied(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    now: number,
  ): Promise<void> {
    if (items.length === 0) return;
    await this.query(
      'mark applied',
      `UPDATE ban_targets t
          SET state = 'applied', applied_at = $1, attempts = t.attempts + 1, last_error = NULL
         FROM unnest($2::bigint[], $3::int[]) AS done(id, version)
        WHERE t.id = done.id AND t.version = done.version`,
      [now, items.map((item) => item.targetId), items.map((item) => item.version)],
    );
  }

  async markFailed(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    error: string,
    nextAttemptAt: number,
  ): Promise<void> {
    if (items.length === 0) return;
    await this.query(
      'mark failed',
      `UPDATE ban_targets t
          SET state = 'failed', attempts = t.attempts + 1, last_error = $1, next_attempt_at = $2
         FROM unnest($3::bigint[], $4::int[]) AS failed(id, version)
        WHERE t.id = failed.id AND t.version = failed.version`,
      [error, nextAttemptAt, items.map((item) => item.targetId), items.map((item) => item.version)],
    );
  }

  async desiredForHost(
    host: string,
    now: number,
  ): Promise<Array<{ ip: string; jail: string; expiresAt: number | null }>> {
    const rows = await this.query<{ ip: string; jail: string; expires_at: number | null }>(
      'desired for host',
      `SELECT b.ip, b.jail, b.expires_at FROM ban_targets t JOIN bans b ON b.id = t.ban_id
        WHERE t.host = $1 AND t.desired = 'present' AND b.lifted_at IS NULL
          AND (b.expires_at IS NULL OR b.expires_at > $2)
        ORDER BY b.ip, b.jail`,
      [host, now],
    );
    return rows.map((row) => ({ ip: row.ip, jail: row.jail, expiresAt: row.expires_at }));
  }

  // ---------------------------------------------------------------- leases

  /**
   * One row per lease. The upsert only takes the row over when the caller already owns it (renewal)
   * or it has expired, so a dead holder is replaced within `ttlMs`. Replicas compare their own clocks
   * with the stored expiry: keep them in NTP sync, with ttl well above the expected skew.
   */
  async acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    const rows = await this.query<{ owner: string }>(
      'acquire lease',
      `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
        WHERE leases.owner = EXCLUDED.owner OR leases.expires_at <= $4
       RETURNING owner`,
      [name, owner, now + ttlMs, now],
    );
    return rows.length === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.query('release lease', 'DELETE FROM leases WHERE name = $1 AND owner = $2', [name, owner]);
  }
}

export { StoreUnavailableError };
