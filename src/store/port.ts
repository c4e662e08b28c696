import type { DecisionPolicy } from '../domain/policy.js';
import type { AlertOutcome, Ban, BatchItem, ManualBanRequest, Source } from '../domain/types.js';

export interface RecordedBatch {
  outcomes: AlertOutcome[];
  /** Hosts whose desired firewall state changed: the dispatcher should look at them now. */
  wake: string[];
}

/** What the store knows of one burst offence: when it started and, once known, when it ended. */
export interface BurstRecord {
  startsAt: number;
  endedAt: number | null;
}

export interface BanQuery {
  active?: boolean;
  jail?: string;
  ip?: string;
  host?: string;
  /** Epoch ms window on createdAt (history). */
  from?: number;
  to?: number;
  limit?: number;
}

export interface StatsQuery {
  from: number;
  to: number;
  /** Bucket width in ms for the time series. */
  bucketMs: number;
}

export interface Stats {
  series: Array<{ time: number; jail: string; bans: number }>;
  topIps: Array<{ ip: string; bans: number; lastBanAt: number }>;
  topPrefixes: Array<{ prefix: string; bans: number }>;
  perJail: Array<{ jail: string; bans: number; active: number }>;
  perHost: Array<{ host: string; bans: number; active: number }>;
}

/** An outbox row: one ban on one host, in the state the firewall must reach. */
export interface OutboxItem {
  targetId: number;
  banId: number;
  host: string;
  ip: string;
  jail: string;
  desired: 'present' | 'absent';
  /**
   * What the host's element must be, all jails together: a host's set holds one element per address,
   * so while any active ban of `ip` targets the host, the item is `present` with the latest expiry of
   * those bans (epoch ms; null = permanent), even for a lifted ban's row. Several items may therefore
   * name the same ip with the same desired state: apply that element once.
   */
  expiresAt: number | null;
  /** Bumped on every change to the row; completion only sticks if the version is unchanged. */
  version: number;
  attempts: number;
}

export interface AuditEvent {
  id: number;
  at: number;
  kind: string;
  actor: string;
  ip: string | null;
  jail: string | null;
  banId: number | null;
  detail: Record<string, unknown>;
}

/** Opening, closing and the readiness probe. */
export interface StoreLifecycle {
  /** Creates or migrates the schema; safe to call from several processes at once. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round-trip for /readyz. */
  ping(): Promise<void>;
}

/** The decisions: what src/decisions asks, and the only writes to bans. */
export interface DecisionStore {
  /**
   * Records a webhook batch atomically (all of it or nothing; a store may share one transaction among
   * concurrent batches as long as each commits or fails alone) and returns one outcome per item, in
   * index order, with the hosts whose firewall must change. It resolves only once the batch is durable.
   * Offence identity is (fingerprint, startsAt): a repeat is `duplicate` and changes nothing, also when
   * two deliveries race. Throws if nothing could be made durable (the caller answers 5xx).
   */
  recordBatch(items: BatchItem[], policy: DecisionPolicy, source: Source): Promise<RecordedBatch>;
  /**
   * For each query, the offence with that fingerprint that started latest at or before `at` (epoch
   * ms): how a ruler alert finds the tail's burst it repeats (src/stream/identity.ts). Served by the
   * unique (fingerprint, starts_at) index; one answer per query, in order.
   */
  findBursts(
    queries: ReadonlyArray<{ fingerprint: string; at: number }>,
  ): Promise<Array<BurstRecord | undefined>>;
  /** Bans or extends; throws BanRefusedError (domain/guard.ts) when the guard refuses, recording nothing. */
  manualBan(request: ManualBanRequest, policy: DecisionPolicy): Promise<{ ban: Ban; wake: string[] }>;
  /** Lifts active bans of `ip` (all jails, or one); their targets become `absent`. History keeps counting. */
  unban(
    ip: string,
    opts: { jail?: string; actor: string; reason?: string; now: number },
  ): Promise<{ bans: Ban[]; wake: string[] }>;
}

/** The audit trail, as the API and the Loki audit shipper read it. */
export interface AuditReader {
  listAudit(query: { ip?: string; limit?: number; after?: number }): Promise<AuditEvent[]>;
}

/** What the API, the panel and /metrics read. */
export interface ReadModel extends AuditReader {
  ping(): Promise<void>;
  getBan(id: number): Promise<Ban | undefined>;
  listBans(query: BanQuery, now: number): Promise<Ban[]>;
  stats(query: StatsQuery, now: number): Promise<Stats>;
  /**
   * The bans in force per jail, as `stats().perJail[].active` reports them, without the rest of
   * `stats`: the metrics gauge runs it on every scrape.
   */
  activeBansPerJail(now: number): Promise<Array<{ jail: string; active: number }>>;
}

/** The outbox, drained by the dispatcher and checked by the reconciler (enforce/). */
export interface Outbox {
  /** Hosts with pending work whose next attempt is due. */
  pendingHosts(now: number): Promise<string[]>;
  claimPending(host: string, limit: number, now: number): Promise<OutboxItem[]>;
  markApplied(items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>, now: number): Promise<void>;
  markFailed(
    items: ReadonlyArray<Pick<OutboxItem, 'targetId' | 'version'>>,
    error: string,
    nextAttemptAt: number,
  ): Promise<void>;
  /** What should be on `host` right now (desired present, not expired): the reconciler's reference. */
  desiredForHost(
    host: string,
    now: number,
  ): Promise<Array<{ ip: string; jail: string; expiresAt: number | null }>>;
}

/** Dispatcher and reconciler ownership across replicas. */
export interface Leases {
  /**
   * Time-bounded exclusive lease. Returns true if `owner` holds `name` until now + ttlMs. SQLite,
   * being single-process, always grants it.
   */
  acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
}

/** A storage engine: every seam above, over one database. */
export interface Store extends StoreLifecycle, DecisionStore, ReadModel, Outbox, Leases {}
