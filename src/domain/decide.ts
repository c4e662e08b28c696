import { PERMANENT } from './duration.js';
import { banDuration, expiryFor } from './escalation.js';
import type { JailSettings } from './jail.js';

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
