import { contains, type Network, parseNetwork } from '../domain/ip.js';
import {
  familyOf,
  MAX_TIMEOUT_SECONDS,
  safeElement,
  safeJail,
  safeNetwork,
  UnsafeValueError,
} from './command.js';
import type { BanElement, EnforcementBatch, PresentElement } from './port.js';

export interface DesiredBan {
  ip: string;
  jail: string;
  /** Epoch ms; null = permanent. */
  expiresAt: number | null;
}

interface Effective {
  ip: string;
  net: Network;
  jail: string;
  expiresAt: number | null;
}

const isFull = (net: Network) => net.prefix === (net.family === 4 ? 32 : 128);

/**
 * The element for a ban, its timeout clamped to what the backend holds and never above the maximum
 * ban: a row written before durations were capped (or by a bug) is enforced for as long as a firewall
 * can hold, and the reconciler re-asserts it, instead of failing the batch it is in.
 */
function elementOf(entry: Effective, now: number, maxTimeout: number | null): BanElement {
  const limit = Math.min(maxTimeout ?? MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS);
  const timeoutSeconds =
    entry.expiresAt === null ? null : Math.min(limit, Math.max(1, Math.ceil((entry.expiresAt - now) / 1000)));
  return { ip: entry.ip, family: entry.net.family, jail: entry.jail, timeoutSeconds };
}

/** An address no firewall command can carry, and why; its rows are set aside instead of sent. */
export interface Rejected {
  ip: string;
  reason: string;
}

function reasonOf(error: unknown): string {
  if (error instanceof UnsafeValueError) return error.message;
  throw error;
}

const later = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(a, b));

/**
 * What the host should hold: one element per address (the latest expiry over all jails wins, so a
 * short ban in one jail never cuts a longer one in another), and no two overlapping prefixes — an
 * interval set refuses overlaps, so a prefix inside a wider banned prefix waits until the wider one is
 * lifted. Single addresses live in their own sets and are always kept, also inside a banned prefix.
 * Elements already expired (less than a second left) are left out.
 */
export class DesiredState {
  readonly byIp = new Map<string, Effective>();
  /** Every wanted prefix, including those a wider prefix covers. */
  readonly wantedPrefixes: Effective[];
  /** Wanted bans that no command can carry (too wide a prefix, a bad jail name): never planned. */
  readonly rejected: Rejected[] = [];
  private readonly prefixes: Effective[] = [];

  constructor(desired: readonly DesiredBan[], now: number) {
    const merged = new Map<string, DesiredBan>();
    for (const ban of desired) {
      if (ban.expiresAt !== null && ban.expiresAt - now < 1000) continue;
      const seen = merged.get(ban.ip);
      merged.set(ban.ip, seen ? { ...seen, expiresAt: later(seen.expiresAt, ban.expiresAt) } : ban);
    }
    const candidates: Effective[] = [];
    for (const ban of merged.values()) {
      const net = parseNetwork(ban.ip);
      if (!net) {
        this.rejected.push({ ip: ban.ip, reason: 'not a valid IP address or CIDR' });
        continue;
      }
      try {
        safeNetwork(ban.ip, net.family);
        safeJail(ban.jail);
      } catch (error) {
        this.rejected.push({ ip: ban.ip, reason: reasonOf(error) });
        continue;
      }
      candidates.push({ ...ban, net });
    }
    // Widest first: a prefix claims every narrower element it covers.
    candidates.sort((a, b) => a.net.prefix - b.net.prefix);
    this.wantedPrefixes = candidates.filter((c) => !isFull(c.net));
    for (const candidate of candidates) {
      if (isFull(candidate.net)) {
        this.byIp.set(candidate.ip, candidate);
        continue;
      }
      if (this.prefixes.some((p) => contains(p.net, candidate.net))) continue;
      this.byIp.set(candidate.ip, candidate);
      this.prefixes.push(candidate);
    }
  }

  /** Effective prefixes overlapping prefix `net` (including itself when it is one). */
  overlapping(net: Network): Effective[] {
    return this.prefixes.filter((p) => contains(p.net, net) || contains(net, p.net));
  }

  element(entry: Effective, now: number, maxTimeout: number | null): BanElement {
    return elementOf(entry, now, maxTimeout);
  }
}

export interface PlannedBatch {
  batch: EnforcementBatch;
  /** Outbox addresses no command can carry; their rows are set aside, the rest of the batch goes. */
  rejected: Rejected[];
}

/** What the planner needs of an outbox row (see OutboxItem: the state is already per address). */
export interface TouchedItem {
  ip: string;
  jail: string;
  desired: 'present' | 'absent';
  expiresAt: number | null;
}

export function hasPrefix(items: readonly TouchedItem[]): boolean {
  return items.some((item) => item.ip.includes('/'));
}

/**
 * Turns the outbox rows claimed for one host into one batch. A single address ends up as its rows say
 * (the store already merged every jail's bans of that address). Prefixes need the host's whole desired
 * state (`desired`, required when `hasPrefix`): a touched prefix brings along the prefixes it overlaps,
 * so a wider ban replaces narrower ones and lifting it restores them.
 */
export function planBatch(
  items: readonly TouchedItem[],
  desired: DesiredState | undefined,
  now: number,
  maxTimeout: number | null,
): PlannedBatch {
  const batch: EnforcementBatch = { add: [], remove: [] };
  const rejected = new Map<string, string>();
  const singles = new Map<string, Effective | null>();
  const prefixes = new Map<string, Network>();
  for (const item of items) {
    if (rejected.has(item.ip)) continue;
    const net = parseNetwork(item.ip);
    if (!net) {
      rejected.set(item.ip, 'not a valid IP address or CIDR');
      continue;
    }
    try {
      safeNetwork(item.ip, net.family);
      if (item.desired === 'present') safeJail(item.jail);
    } catch (error) {
      rejected.set(item.ip, reasonOf(error));
      continue;
    }
    if (!isFull(net)) {
      prefixes.set(item.ip, net);
      continue;
    }
    const live = item.desired === 'present' && (item.expiresAt === null || item.expiresAt - now >= 1000);
    const seen = singles.get(item.ip);
    if (!live) {
      if (seen === undefined) singles.set(item.ip, null);
      continue;
    }
    const expiresAt = seen ? later(seen.expiresAt, item.expiresAt) : item.expiresAt;
    singles.set(item.ip, { ip: item.ip, net, jail: seen?.jail ?? item.jail, expiresAt });
  }
  for (const [ip, entry] of singles) {
    if (!entry) {
      batch.remove.push({ ip, family: familyOf(ip) });
      continue;
    }
    try {
      batch.add.push(safeElement(elementOf(entry, now, maxTimeout)));
    } catch (error) {
      rejected.set(ip, reasonOf(error));
    }
  }
  const result = () => ({ batch, rejected: [...rejected].map(([ip, reason]) => ({ ip, reason })) });
  if (prefixes.size === 0) return result();
  if (!desired) throw new Error('planning prefix changes needs the desired state');
  for (const net of [...prefixes.values()]) {
    for (const p of desired.overlapping(net)) prefixes.set(p.ip, p.net);
    for (const entry of desired.wantedPrefixes)
      if (contains(net, entry.net)) prefixes.set(entry.ip, entry.net);
  }
  for (const [ip, net] of prefixes) {
    const entry = desired.byIp.get(ip);
    if (entry) batch.add.push(elementOf(entry, now, maxTimeout));
    else batch.remove.push({ ip, family: net.family });
  }
  return result();
}

export interface ReconcilePlan {
  batch: EnforcementBatch;
  added: number;
  removed: number;
  retimed: number;
}

/**
 * Compares what a host holds with what the store wants: missing elements are added with their
 * remaining time, unknown ones removed, and timeouts further than `tolerance` seconds from the
 * remaining time re-asserted (a ban extended while a host was unreachable, a permanent ban that lost
 * its permanence, an element re-added by hand).
 */
export function planReconcile(
  present: readonly PresentElement[],
  desired: DesiredState,
  now: number,
  tolerance: number,
  maxTimeout: number | null,
): ReconcilePlan {
  const presentByIp = new Map(present.map((p) => [p.ip, p]));
  const plan: ReconcilePlan = { batch: { add: [], remove: [] }, added: 0, removed: 0, retimed: 0 };
  for (const entry of desired.byIp.values()) {
    const wanted = desired.element(entry, now, maxTimeout);
    const there = presentByIp.get(entry.ip);
    if (!there) {
      plan.batch.add.push(wanted);
      plan.added++;
    } else if (
      (wanted.timeoutSeconds === null) !== (there.timeoutSeconds === null) ||
      (wanted.timeoutSeconds !== null && Math.abs(wanted.timeoutSeconds - there.timeoutSeconds!) > tolerance)
    ) {
      plan.batch.add.push(wanted);
      plan.retimed++;
    }
  }
  for (const element of present) {
    if (desired.byIp.has(element.ip)) continue;
    // Only what lokiban can name exactly is removed; anything else in its sets is left and reported.
    try {
      plan.batch.remove.push({ ip: safeNetwork(element.ip, familyOf(element.ip)), family: element.family });
      plan.removed++;
    } catch {}
  }
  return plan;
}
