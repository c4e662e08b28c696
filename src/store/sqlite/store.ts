import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
import { migrate } from './migrations.js';

// A webhook waits at most this long for another process holding the write lock.
const BUSY_TIMEOUT_MS = 5000;
// One group commit holds at most this many alerts (more only if a single batch is larger): it bounds
// how long one transaction blocks the event loop, while 16 concurrent single-alert deliveries or two
// 1,000-alert groups still share an fsync.
const MAX_GROUP_ALERTS = 2000;

type Statements = ReturnType<typeof prepare>;

function prepare(db: Database.Database) {
  const activeClause = 'lifted_at IS NULL AND (expires_at IS NULL OR expires_at > @now)';
  // Active bans of the same address that target the same host: together they make one element.
  // CROSS JOIN pins the loop order (bans by ip first, then the (ban_id, host) key): left to itself the
  // planner may scan every target of the host for each row, which is quadratic in the backlog.
  const sameElement = `FROM bans ob CROSS JOIN ban_targets ot ON ot.ban_id = ob.id AND ot.host = t.host
    WHERE ob.ip = b.ip AND ot.desired = 'present' AND ob.lifted_at IS NULL
      AND (ob.expires_at IS NULL OR ob.expires_at > @now)`;
  return {
    insertOffence: db.prepare<
      [
        {
          fingerprint: string;
          startsAt: number;
          jail: string;
          ip: string;
          reportedIp: string;
          originHost: string | null;
          source: Source;
          receivedAt: number;
          labels: string;
        },
      ]
    >(
      `INSERT INTO offences (fingerprint, starts_at, jail, ip, reported_ip, origin_host, source, received_at, labels, outcome)
       VALUES (@fingerprint, @startsAt, @jail, @ip, @reportedIp, @originHost, @source, @receivedAt, @labels, 'pending')
       ON CONFLICT (fingerprint, starts_at) DO NOTHING`,
    ),
    offenceByKey: db.prepare<
      [string, number],
      { id: number; ip: string; jail: string; ban_id: number | null }
    >('SELECT id, ip, jail, ban_id FROM offences WHERE fingerprint = ? AND starts_at = ?'),
    latestOffence: db.prepare<[string, number], { starts_at: number; ended_at: number | null }>(
      'SELECT starts_at, ended_at FROM offences WHERE fingerprint = ? AND starts_at <= ? ORDER BY starts_at DESC LIMIT 1',
    ),
    settleOffence: db.prepare<[{ id: number; outcome: string; banId: number | null }]>(
      'UPDATE offences SET outcome = @outcome, ban_id = @banId WHERE id = @id',
    ),
    endOffence: db.prepare<[{ id: number; endsAt: number }]>(
      'UPDATE offences SET ended_at = @endsAt WHERE id = @id AND ended_at IS NULL',
    ),
    deleteOffence: db.prepare<[number]>('DELETE FROM offences WHERE id = ?'),
    activeBan: db.prepare<[{ ip: string; jail: string; now: number }], BanRow>(
      `SELECT * FROM bans WHERE ip = @ip AND jail = @jail AND ${activeClause} ORDER BY id DESC LIMIT 1`,
    ),
    countInJail: db.prepare<[{ ip: string; jail: string; since: number }], { n: number }>(
      'SELECT COUNT(*) AS n FROM bans WHERE ip = @ip AND jail = @jail AND created_at > @since',
    ),
    countAllJails: db.prepare<[{ ip: string; since: number }], { n: number }>(
      'SELECT COUNT(*) AS n FROM bans WHERE ip = @ip AND created_at > @since',
    ),
    insertBan: db.prepare<
      [
        {
          ip: string;
          jail: string;
          level: number;
          now: number;
          expiresAt: number | null;
          source: Source;
          summary: string | null;
          sample: string | null;
        },
      ]
    >(
      `INSERT INTO bans (ip, jail, level, created_at, updated_at, expires_at, offences, source, summary, sample)
       VALUES (@ip, @jail, @level, @now, @now, @expiresAt, 1, @source, @summary, @sample)`,
    ),
    feedBan: db.prepare<
      [
        {
          id: number;
          now: number;
          expiresAt: number | null;
          offences: number;
          summary: string | null;
          sample: string | null;
        },
      ]
    >(
      `UPDATE bans SET updated_at = @now, expires_at = @expiresAt, offences = offences + @offences,
         summary = COALESCE(@summary, summary), sample = COALESCE(@sample, sample)
       WHERE id = @id`,
    ),
    insertTarget: db.prepare<[{ banId: number; host: string; now: number }]>(
      `INSERT INTO ban_targets (ban_id, host, desired, state, attempts, next_attempt_at, version)
       VALUES (@banId, @host, 'present', 'pending', 0, @now, 1)
       ON CONFLICT (ban_id, host) DO NOTHING`,
    ),
    // A changed ban must be re-sent with its new timeout: bump the version so an in-flight completion
    // of the old element cannot mark the new one applied.
    repend: db.prepare<[{ banId: number; now: number }]>(
      `UPDATE ban_targets SET state = 'pending', version = version + 1, attempts = 0, next_attempt_at = @now
       WHERE ban_id = @banId`,
    ),
    withdraw: db.prepare<[{ banId: number; now: number }]>(
      `UPDATE ban_targets SET desired = 'absent', state = 'pending', version = version + 1, attempts = 0,
         next_attempt_at = @now
       WHERE ban_id = @banId`,
    ),
    liftBan: db.prepare<[{ id: number; now: number; actor: string }]>(
      'UPDATE bans SET lifted_at = @now, lifted_by = @actor, updated_at = @now WHERE id = @id',
    ),
    activeBansForIps: db.prepare<[{ ips: string; jail: string | null; now: number }], BanRow>(
      `SELECT * FROM bans WHERE ip IN (SELECT value FROM json_each(@ips))
         AND (@jail IS NULL OR jail = @jail) AND ${activeClause} ORDER BY id`,
    ),
    banById: db.prepare<[number], BanRow>('SELECT * FROM bans WHERE id = ?'),
    targetsOf: db.prepare<[number], TargetRow>('SELECT * FROM ban_targets WHERE ban_id = ? ORDER BY host'),
    targetsOfMany: db.prepare<[string], TargetRow>(
      'SELECT * FROM ban_targets WHERE ban_id IN (SELECT value FROM json_each(?)) ORDER BY ban_id, host',
    ),
    presentHostsOf: db.prepare<[number], { host: string }>(
      "SELECT host FROM ban_targets WHERE ban_id = ? AND desired = 'present'",
    ),
    insertAudit: db.prepare<
      [
        {
          at: number;
          kind: string;
          actor: string;
          ip: string | null;
          jail: string | null;
          banId: number | null;
          detail: string;
        },
      ]
    >(
      `INSERT INTO audit_events (at, kind, actor, ip, jail, ban_id, detail)
       VALUES (@at, @kind, @actor, @ip, @jail, @banId, @detail)`,
    ),
    listAuditAfter: db.prepare<[{ ip: string | null; after: number; limit: number }], AuditRow<string>>(
      `SELECT * FROM audit_events WHERE id > @after AND (@ip IS NULL OR ip = @ip) ORDER BY id LIMIT @limit`,
    ),
    listAuditLatest: db.prepare<[{ ip: string | null; limit: number }], AuditRow<string>>(
      `SELECT * FROM audit_events WHERE (@ip IS NULL OR ip = @ip) ORDER BY id DESC LIMIT @limit`,
    ),
    pendingHosts: db.prepare<[number], { host: string }>(
      `SELECT DISTINCT host FROM ban_targets WHERE state <> 'applied' AND next_attempt_at <= ? ORDER BY host`,
    ),
    // The element on the host is per address: its desired state is the union of every active ban of
    // that address targeting the host (see OutboxItem.expiresAt).
    claim: db.prepare<[{ host: string; now: number; limit: number }], ClaimRow>(
      `SELECT t.id, t.ban_id, t.host, b.ip, b.jail, t.desired, t.version, t.attempts,
              (SELECT COUNT(*) ${sameElement}) AS active_count,
              (SELECT COUNT(*) ${sameElement} AND ob.expires_at IS NULL) AS permanent_count,
              (SELECT MAX(ob.expires_at) ${sameElement}) AS max_expires
       FROM ban_targets t JOIN bans b ON b.id = t.ban_id
       WHERE t.host = @host AND t.state <> 'applied' AND t.next_attempt_at <= @now
       ORDER BY t.next_attempt_at, t.id LIMIT @limit`,
    ),
    settleExpired: db.prepare<[{ id: number; version: number }]>(
      `UPDATE ban_targets SET state = 'applied', last_error = NULL WHERE id = @id AND version = @version`,
    ),
    markApplied: db.prepare<[{ id: number; version: number; now: number }]>(
      `UPDATE ban_targets SET state = 'applied', applied_at = @now, attempts = attempts + 1, last_error = NULL
       WHERE id = @id AND version = @version`,
    ),
    markFailed: db.prepare<[{ id: number; version: number; error: string; next: number }]>(
      `UPDATE ban_targets SET state = 'failed', attempts = attempts + 1, last_error = @error, next_attempt_at = @next
       WHERE id = @id AND version = @version`,
    ),
    desiredForHost: db.prepare<
      [{ host: string; now: number }],
      { ip: string; jail: string; expires_at: number | null; permanent: number }
    >(
      `SELECT b.ip, b.jail, b.expires_at, b.expires_at IS NULL AS permanent
       FROM ban_targets t JOIN bans b ON b.id = t.ban_id
       WHERE t.host = @host AND t.desired = 'present' AND b.lifted_at IS NULL
         AND (b.expires_at IS NULL OR b.expires_at > @now)
       ORDER BY b.ip`,
    ),
    series: db.prepare<
      [{ from: number; to: number; bucket: number }],
      { time: number; jail: string; bans: number }
    >(
      `SELECT CAST(@from AS INTEGER) + CAST((created_at - @from) / @bucket AS INTEGER) * CAST(@bucket AS INTEGER) AS time,
              jail, COUNT(*) AS bans
       FROM bans WHERE created_at >= @from AND created_at < @to
       GROUP BY 1, 2 ORDER BY 1, 2`,
    ),
    bansPerIp: db.prepare<[{ from: number; to: number }], { ip: string; bans: number; last: number }>(
      `SELECT ip, COUNT(*) AS bans, MAX(created_at) AS last FROM bans
       WHERE created_at >= @from AND created_at < @to GROUP BY ip`,
    ),
    perJailWindow: db.prepare<[{ from: number; to: number }], { jail: string; bans: number }>(
      'SELECT jail, COUNT(*) AS bans FROM bans WHERE created_at >= @from AND created_at < @to GROUP BY jail',
    ),
    perJailActive: db.prepare<[{ now: number }], { jail: string; active: number }>(
      `SELECT jail, COUNT(*) AS active FROM bans WHERE ${activeClause} GROUP BY jail`,
    ),
    perHostWindow: db.prepare<[{ from: number; to: number }], { host: string; bans: number }>(
      `SELECT t.host, COUNT(*) AS bans FROM ban_targets t JOIN bans b ON b.id = t.ban_id
       WHERE b.created_at >= @from AND b.created_at < @to GROUP BY t.host`,
    ),
    perHostActive: db.prepare<[{ now: number }], { host: string; active: number }>(
      `SELECT t.host, COUNT(*) AS active FROM ban_targets t JOIN bans b ON b.id = t.ban_id
       WHERE t.desired = 'present' AND b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > @now)
       GROUP BY t.host`,
    ),
    acquireLease: db.prepare<[{ name: string; owner: string; until: number; now: number }]>(
      `INSERT INTO leases (name, owner, expires_at) VALUES (@name, @owner, @until)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE leases.owner = excluded.owner OR leases.expires_at <= @now`,
    ),
    releaseLease: db.prepare<[string, string]>('DELETE FROM leases WHERE name = ? AND owner = ?'),
    ping: db.prepare('SELECT 1'),
    // Group commit (see SqliteStore.flush): one IMMEDIATE transaction, one savepoint per batch.
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    savepoint: db.prepare('SAVEPOINT batch'),
    release: db.prepare('RELEASE batch'),
    rollbackTo: db.prepare('ROLLBACK TO batch'),
  };
}

/** An alert of a queued batch, screened once when the call was made. */
type ScreenedItem =
  | { kind: 'skip'; outcome: AlertOutcome }
  | Extract<BatchItem, { kind: 'resolved' }>
  | (ScreenedOffence & { offence: Offence });

/** A recordBatch call waiting for the next group commit. */
interface QueuedBatch {
  items: ScreenedItem[];
  policy: DecisionPolicy;
  source: Source;
  now: number;
  resolve(result: RecordedBatch): void;
  reject(error: unknown): void;
}

/**
 * The embedded store: one SQLite file in WAL mode. Every write is one IMMEDIATE transaction, so the
 * duplicate check, the decision and its writes see one consistent history even when two processes
 * share the file. `synchronous=FULL` makes each commit fsync the WAL: a 2xx answer must survive a
 * power cut, not only a process crash (NORMAL in WAL mode may lose the last commits on power loss).
 *
 * Group commit: the fsync is the cost of a webhook, so the recordBatch calls that arrive before the
 * event loop's next check phase share one transaction and one COMMIT. Each batch runs in its own
 * savepoint: a batch that throws is rolled back alone and only its promise rejects; every promise
 * settles only after the COMMIT returned, so a resolved batch is on disk exactly as before.
 */
/**
 * Creates the database's directory (0700) and file (0600; SQLite gives its -wal and -shm files the
 * same mode) when they are missing: bans, audit and offence samples are nobody else's to read. An
 * existing zero-length file is refused: SQLite would take it for a new, empty database, and a new
 * store reconciling against hosts that hold bans from the old one would lift them all.
 */
function prepareFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let size: number | undefined;
  try {
    size = statSync(path).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (size === undefined) {
    // Made under a temporary name with SQLite's header written, then linked into place: another process
    // starting on the same path at the same moment never sees the empty file a plain create shows for
    // an instant, and takes whichever file was linked first.
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.new`;
    closeSync(openSync(temp, 'wx', 0o600));
    try {
      const db = new Database(temp);
      db.pragma('journal_mode = WAL');
      db.close();
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temp, { force: true });
    }
    return;
  }
  if (size === 0) {
    throw new Error(
      `${path} is an empty file, not a lokiban database: restore it from a backup, or delete it to start a new, empty store`,
    );
  }
}

export class SqliteStore implements Store {
  private db: Database.Database | undefined;
  private statements: Statements | undefined;
  // listBans combines up to seven optional filters: prepare each combination once.
  private readonly listStatements = new Map<string, Database.Statement<[Record<string, unknown>], BanRow>>();
  private queue: QueuedBatch[] = [];
  private flushScheduled = false;

  constructor(private readonly path: string) {}

  async init(): Promise<void> {
    if (this.db) return;
    if (this.path !== ':memory:') prepareFile(this.path);
    const db = new Database(this.path);
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      // A corrupted file must stop the start, not answer /readyz and lose writes later: quick_check reads
      // every page once (https://sqlite.org/pragma.html#pragma_quick_check).
      const problems = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map(
        (r) => r.quick_check,
      );
      if (problems.join() !== 'ok')
        throw new Error(
          `${this.path} failed SQLite's quick_check, restore it from a backup: ${problems.join('; ')}`,
        );
      migrate(db);
      this.statements = prepare(db);
      this.db = db;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.flush();
    const db = this.db;
    this.db = undefined;
    this.statements = undefined;
    this.listStatements.clear();
    if (db?.open) {
      // Keeps the planner's statistics current at a cheap moment (https://sqlite.org/pragma.html#pragma_optimize).
      db.pragma('optimize');
      db.close();
    }
  }

  async ping(): Promise<void> {
    this.s().ping.get();
  }

  private s(): Statements {
    if (!this.statements) throw new Error('the SQLite store is not open: call init() first');
    return this.statements;
  }

  private open(): Database.Database {
    if (!this.db) throw new Error('the SQLite store is not open: call init() first');
    return this.db;
  }

  async recordBatch(items: BatchItem[], policy: DecisionPolicy, source: Source): Promise<RecordedBatch> {
    this.open();
    const now = policy.now();
    const screened = [...items]
      .sort((a, b) => a.index - b.index)
      .map((item): ScreenedItem => {
        if (item.kind !== 'offence') return item;
        return { ...screenOffence(item.index, item.offence, policy, source), offence: item.offence };
      });
    const known = this.knownOutcomes(screened);
    if (known) return { outcomes: known, wake: [] };
    return new Promise<RecordedBatch>((resolve, reject) => {
      this.queue.push({ items: screened, policy, source, now, resolve, reject });
      this.scheduleGroup();
    });
  }

  async findBursts(
    queries: ReadonlyArray<{ fingerprint: string; at: number }>,
  ): Promise<Array<BurstRecord | undefined>> {
    // Queued batches may hold the burst: commit them first, as every other read does.
    this.flush();
    const s = this.s();
    return queries.map(({ fingerprint, at }) => {
      const row = s.latestOffence.get(fingerprint, at);
      return row ? { startsAt: row.starts_at, endedAt: row.ended_at } : undefined;
    });
  }

  private scheduleGroup(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate runs after the poll phase: every request read in this turn joins the group.
    setImmediate(() => {
      this.flushScheduled = false;
      this.commitGroup(this.takeGroup());
      // A backlog beyond one group waits for the next turn, so requests and timers are served between.
      if (this.queue.length > 0) this.scheduleGroup();
    });
  }

  /** The oldest queued batches, up to MAX_GROUP_ALERTS alerts (at least one batch, whatever its size). */
  private takeGroup(): QueuedBatch[] {
    let take = 0;
    let alerts = 0;
    while (take < this.queue.length) {
      alerts += this.queue[take]!.items.length;
      if (take > 0 && alerts > MAX_GROUP_ALERTS) break;
      take++;
    }
    return this.queue.splice(0, take);
  }

  /** Commits every queued batch now, in the order the calls were made. */
  private flush(): void {
    while (this.queue.length > 0) this.commitGroup(this.takeGroup());
  }

  /**
   * The outcomes of a batch that needs no write: every alert is a repeat of an offence already
   * committed, or names a jail that is not active (never recorded). A read outside the write
   * transaction is enough for that answer, because a committed offence row is never changed back:
   * the batch is answered as of this read. Anything else (a new offence, a resolved alert) returns
   * undefined and goes through the write transaction, which decides again from scratch.
   */
  private knownOutcomes(items: ScreenedItem[]): AlertOutcome[] | undefined {
    const s = this.s();
    const outcomes: AlertOutcome[] = [];
    for (const item of items) {
      if (item.kind === 'skip' || item.kind === 'not-active') {
        outcomes.push(item.outcome);
        continue;
      }
      if (item.kind === 'resolved') return undefined;
      const existing = s.offenceByKey.get(item.offence.fingerprint, item.offence.startsAt);
      if (!existing) return undefined;
      outcomes.push(duplicateOutcome(item.base, existing.ban_id));
    }
    return outcomes;
  }

  /**
   * Commits a group of batches in one transaction. Synchronous, like all of better-sqlite3: nothing
   * else in this process touches the database meanwhile. Other writes and reads flush the queue
   * first, so the store keeps the order in which its methods were called.
   */
  private commitGroup(group: QueuedBatch[]): void {
    if (group.length === 0) return;
    let s: Statements;
    let db: Database.Database;
    try {
      db = this.open();
      s = this.s();
      s.begin.run();
    } catch (error) {
      for (const entry of group) entry.reject(error);
      return;
    }
    const settled: Array<{ result: RecordedBatch } | { error: unknown }> = [];
    try {
      for (const entry of group) {
        s.savepoint.run();
        try {
          const wake = new Set<string>();
          const outcomes = entry.items.map((item) => this.recordItem(item, entry, wake));
          s.release.run();
          settled.push({ result: { outcomes, wake: [...wake] } });
        } catch (error) {
          // Some errors (disk full, I/O) make SQLite roll back the whole transaction: then nothing of
          // the group is left to commit, and every batch must fail.
          if (!db.inTransaction) throw error;
          s.rollbackTo.run();
          s.release.run();
          settled.push({ error });
        }
      }
      s.commit.run();
    } catch (error) {
      if (db.inTransaction) s.rollback.run();
      for (const entry of group) entry.reject(error);
      return;
    }
    group.forEach((entry, i) => {
      const result = settled[i]!;
      if ('result' in result) entry.resolve(result.result);
      else entry.reject(result.error);
    });
  }

  private recordItem(item: ScreenedItem, batch: QueuedBatch, wake: Set<string>): AlertOutcome {
    const s = this.s();
    const { now } = batch;
    if (item.kind === 'skip' || item.kind === 'not-active') return item.outcome;
    if (item.kind === 'resolved') {
      const existing = s.offenceByKey.get(item.fingerprint, item.startsAt);
      const changed = existing
        ? s.endOffence.run({ id: existing.id, endsAt: item.endsAt }).changes > 0
        : true;
      const { audit, banId, outcome } = resolvedRecord(item, existing, batch.source);
      if (changed) this.audit(now, audit, banId);
      return outcome;
    }
    const { offence, base } = item;
    // Insert first: the unique (fingerprint, starts_at) key is what makes a repeat a no-op, even
    // when another process records the same offence at the same moment.
    const inserted = s.insertOffence.run({
      fingerprint: offence.fingerprint,
      startsAt: offence.startsAt,
      jail: offence.jail,
      ip: base.ip,
      reportedIp: offence.reportedIp,
      originHost: offence.originHost ?? null,
      source: offence.source,
      receivedAt: offence.receivedAt,
      labels: JSON.stringify(offence.labels),
    });
    if (inserted.changes === 0) {
      return duplicateOutcome(base, s.offenceByKey.get(offence.fingerprint, offence.startsAt)?.ban_id);
    }
    const offenceId = Number(inserted.lastInsertRowid);
    if (item.kind === 'ignored') {
      s.settleOffence.run({ id: offenceId, outcome: item.outcome.outcome, banId: null });
      this.audit(now, item.audit, null);
      return item.outcome;
    }
    const plan = planOffence(item.cause, this.snapshot(item.cause, now), now, batch.policy);
    if (plan.outcome === 'ignored-breaker') {
      // Not kept: a repeat delivery once the breaker has room again is decided, not a duplicate.
      s.deleteOffence.run(offenceId);
      return refusedOutcome(base, plan);
    }
    const banId = this.write(item.cause, plan, now);
    for (const host of plan.wake) wake.add(host);
    s.settleOffence.run({ id: offenceId, outcome: plan.outcome, banId });
    return decidedOutcome(base, plan, banId);
  }

  /** What the planner needs to know about the cause's network. Runs inside the caller's transaction. */
  private snapshot(cause: BanCause, now: number): Snapshot {
    const s = this.s();
    const { ip, jail } = cause;
    const activeRow = s.activeBan.get({ ip, jail: jail.name, now });
    const active: ActiveBan | undefined = activeRow && {
      id: activeRow.id,
      level: activeRow.level,
      expiresAt: activeRow.expires_at,
      hosts: s.presentHostsOf.all(activeRow.id).map((row) => row.host),
    };
    const window = historyWindow(jail, now);
    const earlierBans = active
      ? 0
      : (window.jail === undefined
          ? s.countAllJails.get({ ip, since: window.since })
          : s.countInJail.get({ ip, jail: window.jail, since: window.since }))!.n;
    return { active, earlierBans };
  }

  /** Applies the plan; returns the ban it wrote. Runs inside the caller's transaction. */
  private write(cause: BanCause, plan: DecisionPlan, now: number): number {
    const s = this.s();
    const { ip, jail } = cause;
    const { write } = plan;
    const fields = { now, expiresAt: write.expiresAt, summary: cause.summary, sample: cause.sample };
    let banId: number;
    let targets: string[];
    if (write.kind === 'insert') {
      banId = Number(
        s.insertBan.run({ ...fields, ip, jail: jail.name, level: write.level, source: cause.source })
          .lastInsertRowid,
      );
      targets = write.targets;
    } else {
      banId = write.banId;
      s.feedBan.run({ ...fields, id: banId, offences: 1 });
      if (write.repend) s.repend.run({ banId, now });
      targets = write.addTargets;
    }
    for (const host of targets) s.insertTarget.run({ banId, host, now });
    if (plan.audit) this.audit(now, plan.audit, banId);
    return banId;
  }

  private audit(at: number, record: AuditWrite, banId: number | null): void {
    this.s().insertAudit.run({ ...record, at, banId, detail: JSON.stringify(record.detail) });
  }

  async manualBan(request: ManualBanRequest, policy: DecisionPolicy): Promise<{ ban: Ban; wake: string[] }> {
    this.flush();
    const db = this.open();
    const now = policy.now();
    const run = db.transaction(() => {
      const cause = manualBanCause(request, policy);
      const plan = planDecision(cause, this.snapshot(cause, now), now, policy);
      return { ban: this.loadBan(this.write(cause, plan, now))!, wake: plan.wake };
    });
    return run.immediate();
  }

  async unban(
    ip: string,
    opts: { jail?: string; actor: string; reason?: string; now: number },
  ): Promise<{ bans: Ban[]; wake: string[] }> {
    this.flush();
    const db = this.open();
    const s = this.s();
    const candidates = lookupCandidates(ip);
    if (candidates.length === 0) return { bans: [], wake: [] };
    const run = db.transaction(() => {
      const rows = s.activeBansForIps.all({
        ips: JSON.stringify(candidates),
        jail: opts.jail ?? null,
        now: opts.now,
      });
      for (const row of rows) {
        s.liftBan.run({ id: row.id, now: opts.now, actor: opts.actor });
        s.withdraw.run({ banId: row.id, now: opts.now });
        const ban = { ip: row.ip, jail: row.jail, expiresAt: row.expires_at };
        this.audit(opts.now, unbanAudit(ban, opts.actor, opts.reason), row.id);
      }
      const bans = rows.map((row) => this.loadBan(row.id)!);
      return { bans, wake: withdrawnHosts(bans) };
    });
    return run.immediate();
  }

  private loadBan(id: number): Ban | undefined {
    const s = this.s();
    const row = s.banById.get(id);
    return row && toBan(row, s.targetsOf.all(id));
  }

  async getBan(id: number): Promise<Ban | undefined> {
    this.flush();
    return this.loadBan(id);
  }

  async listBans(query: BanQuery, now: number): Promise<Ban[]> {
    this.flush();
    const db = this.open();
    const s = this.s();
    const where: string[] = [];
    const params: Record<string, unknown> = { now };
    if (query.active === true)
      where.push('b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > @now)');
    if (query.active === false)
      where.push('NOT (b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > @now))');
    if (query.jail !== undefined) {
      where.push('b.jail = @jail');
      params.jail = query.jail;
    }
    if (query.ip !== undefined) {
      where.push('b.ip IN (SELECT value FROM json_each(@ips))');
      params.ips = JSON.stringify(lookupCandidates(query.ip));
    }
    if (query.host !== undefined) {
      where.push('EXISTS (SELECT 1 FROM ban_targets t WHERE t.ban_id = b.id AND t.host = @host)');
      params.host = query.host;
    }
    if (query.from !== undefined) {
      where.push('b.created_at >= @from');
      params.from = query.from;
    }
    if (query.to !== undefined) {
      where.push('b.created_at < @to');
      params.to = query.to;
    }
    params.limit = clampLimit(query.limit);
    // The filters are fixed SQL fragments; only values travel as parameters.
    const sql = `SELECT b.* FROM bans b ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY b.created_at DESC, b.id DESC LIMIT @limit`;
    let statement = this.listStatements.get(sql);
    if (!statement) {
      statement = db.prepare<[Record<string, unknown>], BanRow>(sql);
      this.listStatements.set(sql, statement);
    }
    const rows = statement.all(params);
    const targets = new Map<number, TargetRow[]>();
    const CHUNK = 5000;
    for (let i = 0; i < rows.length; i += CHUNK) {
      const ids = rows.slice(i, i + CHUNK).map((row) => row.id);
      for (const target of s.targetsOfMany.all(JSON.stringify(ids))) {
        const list = targets.get(target.ban_id);
        if (list) list.push(target);
        else targets.set(target.ban_id, [target]);
      }
    }
    return rows.map((row) => toBan(row, targets.get(row.id) ?? []));
  }

  async stats(query: StatsQuery, now: number): Promise<Stats> {
    this.flush();
    const s = this.s();
    const window = { from: query.from, to: query.to };
    const bucket = Math.max(1, Math.trunc(query.bucketMs));
    return shapeStats({
      series: s.series.all({ ...window, bucket }),
      perIp: s.bansPerIp.all(window),
      perJail: mergeCounts(s.perJailWindow.all(window), s.perJailActive.all({ now }), (row) => row.jail),
      perHost: mergeCounts(s.perHostWindow.all(window), s.perHostActive.all({ now }), (row) => row.host),
    });
  }

  async activeBansPerJail(now: number): Promise<Array<{ jail: string; active: number }>> {
    this.flush();
    return this.s().perJailActive.all({ now });
  }

  async listAudit(query: { ip?: string; limit?: number; after?: number }): Promise<AuditEvent[]> {
    this.flush();
    const s = this.s();
    const limit = clampLimit(query.limit);
    const ip = query.ip ?? null;
    const rows =
      query.after === undefined
        ? s.listAuditLatest.all({ ip, limit })
        : s.listAuditAfter.all({ ip, after: query.after, limit });
    return rows.map((row) => toAuditEvent(row, JSON.parse(row.detail) as Record<string, unknown>));
  }

  async pendingHosts(now: number): Promise<string[]> {
    this.flush();
    return this.s()
      .pendingHosts.all(now)
      .map((row) => row.host);
  }

  async claimPending(host: string, limit: number, now: number): Promise<OutboxItem[]> {
    this.flush();
    const db = this.open();
    const s = this.s();
    const run = db.transaction(() => {
      const items: OutboxItem[] = [];
      for (const row of s.claim.all({ host, now, limit: Math.max(1, Math.trunc(limit)) })) {
        const item = toOutboxItem(row);
        if (item) items.push(item);
        else s.settleExpired.run({ id: row.id, version: row.version });
      }
      return items;
    });
    return run.immediate();
  }

  async markApplied(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    now: number,
  ): Promise<void> {
    this.flush();
    const db = this.open();
    const s = this.s();
    db.transaction(() => {
      for (const item of items) s.markApplied.run({ id: item.targetId, version: item.version, now });
    }).immediate();
  }

  async markFailed(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    error: string,
    nextAttemptAt: number,
  ): Promise<void> {
    this.flush();
    const db = this.open();
    const s = this.s();
    const message = truncateError(error);
    db.transaction(() => {
      for (const item of items) {
        s.markFailed.run({ id: item.targetId, version: item.version, error: message, next: nextAttemptAt });
      }
    }).immediate();
  }

  async desiredForHost(
    host: string,
    now: number,
  ): Promise<Array<{ ip: string; jail: string; expiresAt: number | null }>> {
    this.flush();
    return longestPerIp(
      this.s()
        .desiredForHost.all({ host, now })
        .map((row) => ({ ip: row.ip, jail: row.jail, expiresAt: row.permanent ? null : row.expires_at })),
    );
  }

  async acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    this.flush();
    return this.s().acquireLease.run({ name, owner, until: now + ttlMs, now }).changes > 0;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.flush();
    this.s().releaseLease.run(name, owner);
  }
}
