import { PERMANENT } from './duration.js';
import { banDuration, expiryFor } from './escalation.js';
import { BanRefusedError, checkGuard } from './guard.js';
import { formatNetwork } from './ip.js';
import type { JailSettings } from './jail.js';
import type { DecisionPolicy } from './policy.js';
import type { AlertOutcome, BatchItem, ManualBanRequest, Offence, OutcomeKind, Source } from './types.js';

/** The ban of this network in this jail that is still in force (not lifted, not expired). */
export interface ActiveBan {
  id: number;
  level: number;
  /** Epoch ms; null = permanent. */
  expiresAt: number | null;
  /** Hosts the ban already targets (desired present). */
  hosts: readonly string[];
}

/** Which earlier bans count for escalation: since `since` (epoch ms, exclusive), in `jail` or in every jail. */
export interface HistoryWindow {
  since: number;
  /** undefined = every jail (`overalljails`). */
  jail: string | undefined;
}

export function historyWindow(jail: JailSettings, now: number): HistoryWindow {
  return {
    since: now - jail.increment.memory * 1000,
    jail: jail.increment.overalljails ? undefined : jail.name,
  };
}

export interface DecisionInput {
  jail: JailSettings;
  now: number;
  random: () => number;
  /** Bans of this network inside the history window (lifted and expired ones included). */
  earlierBans: number;
  active: ActiveBan | undefined;
  /** Hosts the ban must reach for this offence. */
  targets: readonly string[];
  /** Manual bans: seconds (-1 permanent) instead of the jail's escalated bantime. */
  duration?: number;
}

export type Decision =
  | { kind: 'ban'; level: number; seconds: number; expiresAt: number | null; targets: string[] }
  | { kind: 'extend'; banId: number; level: number; expiresAt: number | null; addTargets: string[] }
  | { kind: 'unchanged'; banId: number; level: number; expiresAt: number | null };

function later(a: number | null, b: number | null): number | null {
  if (a === null || b === null) return null;
  return Math.max(a, b);
}

/**
 * The decision for one offence that passed the guard. Without an active ban: a new ban at level
 * `earlierBans` with the escalated bantime. With one: the ban is extended to now + the bantime of its
 * own level (never shortened) and reaches any new targets; if neither changes, it is unchanged.
 */
export function decide(input: DecisionInput): Decision {
  const { jail, now, active } = input;
  if (!active) {
    const level = input.earlierBans;
    const seconds = input.duration ?? banDuration(jail.bantime, level, jail.increment, input.random);
    return {
      kind: 'ban',
      level,
      seconds,
      expiresAt: expiryFor(now, seconds),
      targets: unique(input.targets),
    };
  }
  const seconds = input.duration ?? banDuration(jail.bantime, active.level, jail.increment, input.random);
  const proposed = seconds === PERMANENT ? null : expiryFor(now, seconds);
  const expiresAt = later(active.expiresAt, proposed);
  const known = new Set(active.hosts);
  const addTargets = unique(input.targets).filter((host) => !known.has(host));
  if (expiresAt === active.expiresAt && addTargets.length === 0) {
    return { kind: 'unchanged', banId: active.id, level: active.level, expiresAt };
  }
  return { kind: 'extend', banId: active.id, level: active.level, expiresAt, addTargets };
}

function unique(hosts: readonly string[]): string[] {
  return [...new Set(hosts)];
}

// ---------------------------------------------------------------- the planner
//
// Every engine runs the same sequence for an offence: screen it, record the offence row (its unique
// key makes a repeat a no-op), read the network's history, plan, apply the plan. The reading and the
// applying are the engine's; everything that decides lives here, so SQLite and Postgres cannot drift.

/** Why and for whom a ban is planned: an offence that passed the guard, or an operator's request. */
export interface BanCause {
  /** Canonical network text the ban covers. */
  ip: string;
  jail: JailSettings;
  /** Hosts the ban must reach when the request names them; otherwise the jail's scope decides. */
  hosts?: readonly string[];
  /** Where the offence was seen: scope `origin` bans there. */
  originHost?: string;
  /** Manual bans: seconds (-1 permanent) instead of the jail's escalated bantime. */
  duration?: number;
  source: Source;
  /** Who the audit record names: the sender of the webhook, or the API token's name. */
  actor: string;
  summary: string | null;
  sample: string | null;
  /** What the audit record says about the cause (offence fingerprint, manual reason). */
  detail: Record<string, unknown>;
}

/** What the engine read about the network inside its transaction, under its lock. */
export interface Snapshot {
  active: ActiveBan | undefined;
  /** Bans inside `historyWindow`; read only when there is no active ban (0 otherwise). */
  earlierBans: number;
}

/** The write to `bans` and `ban_targets`. */
export type BanWrite =
  | {
      kind: 'insert';
      level: number;
      expiresAt: number | null;
      targets: string[];
    }
  | {
      /** Counts the offence on the active ban; `expiresAt` is its (possibly unchanged) end. */
      kind: 'feed';
      banId: number;
      expiresAt: number | null;
      /** The expiry moved: every target of the ban is pending again with a new version. */
      repend: boolean;
      addTargets: string[];
    };

/** An audit row; the engine adds the time and the ban id (known only after an insert). */
export interface AuditWrite {
  kind: 'ban' | 'extend' | 'ignored' | 'resolved' | 'unban';
  actor: string;
  ip: string | null;
  jail: string | null;
  detail: Record<string, unknown>;
}

export interface DecisionPlan {
  outcome: 'banned' | 'extended' | 'unchanged';
  level: number;
  expiresAt: number | null;
  write: BanWrite;
  audit: AuditWrite | undefined;
  /**
   * Hosts whose firewall element changes: the targets of a new ban; for an extension the re-pended
   * hosts (all of them when the expiry moved) and the added ones; none when unchanged.
   */
  wake: string[];
}

/**
 * The writes for one cause, given what the engine read: the same snapshot gives the same plan. The
 * jail's scope is resolved here, once per decided offence (never for a repeat delivery).
 */
export function planDecision(
  cause: BanCause,
  snapshot: Snapshot,
  now: number,
  policy: Pick<DecisionPolicy, 'targetsFor' | 'random'>,
): DecisionPlan {
  const { active } = snapshot;
  const decision = decide({
    jail: cause.jail,
    now,
    random: policy.random,
    earlierBans: active ? 0 : snapshot.earlierBans,
    active,
    targets: cause.hosts ?? policy.targetsFor(cause.jail, cause.originHost),
    ...(cause.duration === undefined ? {} : { duration: cause.duration }),
  });
  const audit = (kind: 'ban' | 'extend', detail: Record<string, unknown>): AuditWrite => ({
    kind,
    actor: cause.actor,
    ip: cause.ip,
    jail: cause.jail.name,
    detail: { ...detail, ...cause.detail },
  });
  const { level, expiresAt } = decision;
  if (decision.kind === 'ban') {
    return {
      outcome: 'banned',
      level,
      expiresAt,
      write: { kind: 'insert', level, expiresAt, targets: decision.targets },
      audit: audit('ban', { level, expiresAt, hosts: decision.targets }),
      wake: decision.targets,
    };
  }
  const previous = active!;
  if (decision.kind === 'unchanged') {
    return {
      outcome: 'unchanged',
      level,
      expiresAt,
      write: { kind: 'feed', banId: decision.banId, expiresAt, repend: false, addTargets: [] },
      audit: undefined,
      wake: [],
    };
  }
  const repend = expiresAt !== previous.expiresAt;
  return {
    outcome: 'extended',
    level,
    expiresAt,
    write: { kind: 'feed', banId: decision.banId, expiresAt, repend, addTargets: decision.addTargets },
    audit: audit('extend', {
      level,
      previousExpiresAt: previous.expiresAt,
      expiresAt,
      addedHosts: decision.addTargets,
    }),
    wake: repend ? [...previous.hosts, ...decision.addTargets] : decision.addTargets,
  };
}

/** Why an alert got `ignored-breaker`. */
export const BREAKER_REASON =
  'circuit breaker open: too many new bans in the last minute (safety.maxNewBansPerMinute)';

/** The circuit breaker refused the new ban: the engine writes nothing and drops the offence row. */
export interface RefusedPlan {
  outcome: 'ignored-breaker';
  reason: string;
}

/**
 * The plan for an alert's offence: as `planDecision`, except that a new ban (no active ban in the
 * jail) must first pass the circuit breaker. Extensions and repeats never count; manual bans use
 * `planDecision` directly, so an operator is never braked.
 */
export function planOffence(
  cause: BanCause,
  snapshot: Snapshot,
  now: number,
  policy: Pick<DecisionPolicy, 'targetsFor' | 'random' | 'admitNewBan'>,
): DecisionPlan | RefusedPlan {
  if (!snapshot.active && policy.admitNewBan && !policy.admitNewBan(cause.jail.name, now)) {
    return { outcome: 'ignored-breaker', reason: BREAKER_REASON };
  }
  return planDecision(cause, snapshot, now, policy);
}

/** The outcome of an offence whose new ban the circuit breaker refused. */
export function refusedOutcome(base: OutcomeBase, plan: RefusedPlan): AlertOutcome {
  return { ...base, outcome: plan.outcome, reason: plan.reason };
}

/** The `until` field of an outcome: ISO time, or "permanent". */
export function untilText(expiresAt: number | null): string {
  return expiresAt === null ? 'permanent' : new Date(expiresAt).toISOString();
}

/** The fields every outcome of one offence carries. */
export interface OutcomeBase {
  index: number;
  fingerprint: string;
  ip: string;
  jail: string;
}

/**
 * An offence after the guard: a jail that does not ban (never recorded, so that enabling the jail
 * later decides the next repeat), an address the guard refuses (recorded and audited, not banned),
 * or a cause to plan a ban for.
 */
export type ScreenedOffence =
  | { kind: 'not-active'; outcome: AlertOutcome }
  | { kind: 'ignored'; base: OutcomeBase; outcome: AlertOutcome; audit: AuditWrite }
  | { kind: 'decide'; base: OutcomeBase; cause: BanCause };

/** Guard outcomes that mean "this jail does not ban": such an offence is not recorded as history. */
const JAIL_NOT_ACTIVE: ReadonlySet<OutcomeKind> = new Set(['ignored-unknown-jail', 'ignored-jail-disabled']);

/** Runs the guard on an offence of a webhook batch sent by `actor`. */
export function screenOffence(
  index: number,
  offence: Offence,
  policy: DecisionPolicy,
  actor: string,
): ScreenedOffence {
  const verdict = checkGuard(offence.reportedIp, offence.jail, policy, offence.ip);
  const ip = verdict.allowed ? formatNetwork(verdict.network) : offence.ip;
  const base: OutcomeBase = { index, fingerprint: offence.fingerprint, ip, jail: offence.jail };
  if (!verdict.allowed) {
    const outcome: AlertOutcome = { ...base, outcome: verdict.outcome, reason: verdict.reason };
    if (JAIL_NOT_ACTIVE.has(verdict.outcome)) return { kind: 'not-active', outcome };
    const detail = { outcome: verdict.outcome, reason: verdict.reason, fingerprint: offence.fingerprint };
    return {
      kind: 'ignored',
      base,
      outcome,
      audit: { kind: 'ignored', actor, ip, jail: offence.jail, detail },
    };
  }
  return {
    kind: 'decide',
    base,
    cause: {
      ip,
      jail: verdict.jail,
      ...(offence.originHost === undefined ? {} : { originHost: offence.originHost }),
      source: offence.source,
      actor,
      summary: offence.summary ?? null,
      sample: offence.sample ?? null,
      detail: { fingerprint: offence.fingerprint, originHost: offence.originHost ?? null },
    },
  };
}

/** The cause of a manual ban, or BanRefusedError when the guard refuses it (nothing is recorded). */
export function manualBanCause(request: ManualBanRequest, policy: DecisionPolicy): BanCause {
  const verdict = checkGuard(request.ip, request.jail, policy);
  if (!verdict.allowed) throw new BanRefusedError(verdict.outcome, verdict.reason);
  return {
    ip: formatNetwork(verdict.network),
    jail: verdict.jail,
    ...(request.hosts ? { hosts: request.hosts } : {}),
    ...(request.duration === undefined ? {} : { duration: request.duration }),
    source: 'manual',
    actor: request.actor,
    summary: request.reason ?? null,
    sample: null,
    detail: { manual: true, ...(request.reason ? { reason: request.reason } : {}) },
  };
}

/** The outcome of an offence whose ban plan was applied to ban `banId`. */
export function decidedOutcome(base: OutcomeBase, plan: DecisionPlan, banId: number): AlertOutcome {
  return { ...base, outcome: plan.outcome, banId, level: plan.level, until: untilText(plan.expiresAt) };
}

/** The outcome of a repeat delivery: nothing changed; it names the ban the first delivery fed. */
export function duplicateOutcome(base: OutcomeBase, banId: number | null | undefined): AlertOutcome {
  return { ...base, outcome: 'duplicate', ...(banId ? { banId } : {}) };
}

/** The audit record of an unban. */
export function unbanAudit(
  ban: { ip: string; jail: string; expiresAt: number | null },
  actor: string,
  reason: string | undefined,
): AuditWrite {
  return {
    kind: 'unban',
    actor,
    ip: ban.ip,
    jail: ban.jail,
    detail: { expiresAt: ban.expiresAt, ...(reason ? { reason } : {}) },
  };
}

/** What a store knows of the offence a resolved notification ends. */
export interface KnownOffence {
  ip: string;
  jail: string;
  ban_id: number | null;
}

/**
 * The `resolved` audit record (written when the notification changed something) and the outcome of
 * a resolved notification; `existing` is the recorded offence it ends, if there is one.
 */
export function resolvedRecord(
  item: Extract<BatchItem, { kind: 'resolved' }>,
  existing: KnownOffence | undefined,
  actor: string,
): { audit: AuditWrite; banId: number | null; outcome: AlertOutcome } {
  return {
    audit: {
      kind: 'resolved',
      actor,
      ip: item.ip ?? existing?.ip ?? null,
      jail: item.jail ?? existing?.jail ?? null,
      detail: {
        fingerprint: item.fingerprint,
        startsAt: item.startsAt,
        endsAt: item.endsAt,
        known: !!existing,
      },
    },
    banId: existing?.ban_id ?? null,
    outcome: {
      index: item.index,
      outcome: 'resolved-recorded',
      fingerprint: item.fingerprint,
      ...(item.ip ? { ip: item.ip } : {}),
      ...(item.jail ? { jail: item.jail } : {}),
      ...(existing?.ban_id ? { banId: existing.ban_id } : {}),
    },
  };
}
