import { formatNetwork, parseNetwork } from '../domain/ip.js';
import type { Ban, BanTargetState, Source, TargetState } from '../domain/types.js';
import type { AuditEvent, OutboxItem, Stats } from './port.js';

/**
 * The stored network texts a lookup of `input` should match. A single address also finds the
 * wider bans that contain it (an IPv6 address banned as its /64, a manual /24), so
 * `unban 2001:db8::5` lifts the ban on `2001:db8::/64`. A CIDR matches only itself.
 * Shared by every Store so they agree on what "the bans of this ip" means.
 */
export function lookupCandidates(input: string): string[] {
  const net = parseNetwork(input.trim());
  if (!net) return [];
  const full = net.family === 4 ? 32 : 128;
  if (net.prefix !== full) return [formatNetwork(net)];
  // neverBanReason refuses anything wider than /16 (v4) or /32 (v6), so no ban is wider than that.
  const widest = net.family === 4 ? 16 : 32;
  const candidates: string[] = [];
  for (let prefix = full; prefix >= widest; prefix--) {
    const wider = parseNetwork(`${net.address}/${prefix}`);
    if (wider) candidates.push(formatNetwork(wider));
  }
  return candidates;
}

const IPV4_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The /24 (IPv4) or /64 (IPv6) a banned network falls in, for "top prefixes"; wider bans stay as they are. */
export function prefixKey(ip: string): string {
  // Fast path for the common case, a stored canonical IPv4 address: stats walk every banned address.
  if (IPV4_ADDRESS.test(ip)) return `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`;
  const net = parseNetwork(ip);
  if (!net) return ip;
  const width = net.family === 4 ? 24 : 64;
  if (net.prefix <= width) return formatNetwork(net);
  const prefix = parseNetwork(`${net.address}/${width}`);
  return prefix ? formatNetwork(prefix) : ip;
}

// What follows is the part of every Store that does not depend on the database: the rows both
// schemas return, how they become domain values, and the bounds and ordering the contract fixes.

const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 100_000;
const TOP_LIMIT = 10;
// last_error comes from SSH/firewall output; keep rows small.
const MAX_ERROR_LENGTH = 2000;

/** A row of `bans`. */
export interface BanRow {
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

/** A row of `ban_targets`. */
export interface TargetRow {
  ban_id: number;
  host: string;
  desired: 'present' | 'absent';
  state: TargetState;
  attempts: number;
  last_error: string | null;
  applied_at: number | null;
}

/** A row of `audit_events`; `detail` is JSON text in SQLite and already parsed from Postgres jsonb. */
export interface AuditRow<Detail> {
  id: number;
  at: number;
  kind: string;
  actor: string;
  ip: string | null;
  jail: string | null;
  ban_id: number | null;
  detail: Detail;
}

/** An outbox row as claimed, with the counts of the address's active bans on the same host. */
export interface ClaimRow {
  id: number;
  ban_id: number;
  host: string;
  ip: string;
  jail: string;
  desired: 'present' | 'absent';
  version: number;
  attempts: number;
  active_count: number;
  permanent_count: number;
  max_expires: number | null;
}

export function toTarget(row: TargetRow): BanTargetState {
  return {
    host: row.host,
    desired: row.desired,
    state: row.state,
    attempts: row.attempts,
    lastError: row.last_error,
    appliedAt: row.applied_at,
  };
}

export function toBan(row: BanRow, targets: TargetRow[]): Ban {
  return {
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
    hosts: targets.map(toTarget),
  };
}

export function toAuditEvent(row: AuditRow<unknown>, detail: Record<string, unknown>): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind,
    actor: row.actor,
    ip: row.ip,
    jail: row.jail,
    banId: row.ban_id,
    detail,
  };
}

/**
 * The outbox item a claimed row stands for, or undefined when the row's ban ran out before it
 * reached the host: then there is nothing to add, and nothing to remove because an element that
 * was applied earlier carries its own timeout; the caller settles the row.
 */
export function toOutboxItem(row: ClaimRow): OutboxItem | undefined {
  if (row.active_count === 0 && row.desired === 'present') return undefined;
  const present = row.active_count > 0;
  return {
    targetId: row.id,
    banId: row.ban_id,
    host: row.host,
    ip: row.ip,
    jail: row.jail,
    desired: present ? 'present' : 'absent',
    expiresAt: present && row.permanent_count === 0 ? row.max_expires : null,
    version: row.version,
    attempts: row.attempts,
  };
}

/** A list query's limit: the default when absent, at least 1, at most MAX_LIST_LIMIT. */
export function clampLimit(limit: number | undefined): number {
  return Math.min(Math.max(1, Math.trunc(limit ?? DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT);
}

/** A failure message as stored in last_error, cut to MAX_ERROR_LENGTH. */
export function truncateError(error: string): string {
  return error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}…` : error;
}

/** One element per address: of the address's bans on a host, the longest (permanent first) wins. */
export function longestPerIp(
  bans: Iterable<{ ip: string; jail: string; expiresAt: number | null }>,
): Array<{ ip: string; jail: string; expiresAt: number | null }> {
  const byIp = new Map<string, { ip: string; jail: string; expiresAt: number | null }>();
  for (const ban of bans) {
    const seen = byIp.get(ban.ip);
    const expiresAt = ban.expiresAt;
    if (!seen || (seen.expiresAt !== null && (expiresAt === null || expiresAt > seen.expiresAt))) {
      byIp.set(ban.ip, { ip: ban.ip, jail: ban.jail, expiresAt });
    }
  }
  return [...byIp.values()];
}

/** Joins "bans in the window" and "active now" counts by key; most bans, then most active first. */
export function mergeCounts<A extends { bans: number }, B extends { active: number }>(
  window: A[],
  activeNow: B[],
  key: (row: A | B) => string,
): Array<[string, number, number]> {
  const merged = new Map<string, [string, number, number]>();
  for (const row of window) merged.set(key(row), [key(row), row.bans, 0]);
  for (const row of activeNow) {
    const entry = merged.get(key(row)) ?? [key(row), 0, 0];
    entry[2] = row.active;
    merged.set(key(row), entry);
  }
  return [...merged.values()].sort((a, b) => b[1] - a[1] || b[2] - a[2] || a[0].localeCompare(b[0]));
}

/** Shapes the per-query counts of `stats` into the Stats the contract describes. */
export function shapeStats(counts: {
  series: Stats['series'];
  perIp: ReadonlyArray<{ ip: string; bans: number; last: number }>;
  perJail: Array<[string, number, number]>;
  perHost: Array<[string, number, number]>;
}): Stats {
  const topIps = [...counts.perIp]
    .sort((a, b) => b.bans - a.bans || b.last - a.last || a.ip.localeCompare(b.ip))
    .slice(0, TOP_LIMIT)
    .map((row) => ({ ip: row.ip, bans: row.bans, lastBanAt: row.last }));
  const prefixes = new Map<string, number>();
  for (const row of counts.perIp) {
    const key = prefixKey(row.ip);
    prefixes.set(key, (prefixes.get(key) ?? 0) + row.bans);
  }
  const topPrefixes = [...prefixes]
    .map(([prefix, bans]) => ({ prefix, bans }))
    .sort((a, b) => b.bans - a.bans || a.prefix.localeCompare(b.prefix))
    .slice(0, TOP_LIMIT);
  return {
    series: counts.series,
    topIps,
    topPrefixes,
    perJail: counts.perJail.map(([jail, bans, active]) => ({ jail, bans, active })),
    perHost: counts.perHost.map(([host, bans, active]) => ({ host, bans, active })),
  };
}

/** The hosts an unban must reach: every target of the lifted bans, once. */
export function withdrawnHosts(bans: readonly Ban[]): string[] {
  return [...new Set(bans.flatMap((ban) => ban.hosts.map((target) => target.host)))];
}
