import { contains, type Network, parseNetwork } from '../domain/ip.js';
import { familyOf, safeNetwork } from './command.js';
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
      if (net) candidates.push({ ...ban, net });
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
    let timeoutSeconds =
      entry.expiresAt === null ? null : Math.max(1, Math.ceil((entry.expiresAt - now) / 1000));
    if (timeoutSeconds !== null && maxTimeout !== null) timeoutSeconds = Math.min(timeoutSeconds, maxTimeout);
    return { ip: entry.ip, family: entry.net.family, jail: entry.jail, timeoutSeconds };
  }
}

export interface PlannedBatch {
  batch: EnforcementBatch;
  /** Outbox addresses that are not valid networks; they can never be applied. */
  invalid: string[];
}

/**
 * Turns the outbox rows touched since the last flush into one batch: every touched address ends up as
 * the desired state says (present with its remaining time, or absent). A touched prefix brings along
 * the prefixes it overlaps, so a wider ban replaces narrower ones and lifting it restores them.
 */
export function planBatch(
  touchedIps: Iterable<string>,
  desired: DesiredState,
  now: number,
  maxTimeout: number | null,
): PlannedBatch {
  const touched = new Map<string, Network>();
  const invalid: string[] = [];
  for (const ip of touchedIps) {
    const net = parseNetwork(ip);
    if (!net) {
      invalid.push(ip);
      continue;
    }
    touched.set(ip, net);
  }
  for (const net of [...touched.values()]) {
    if (isFull(net)) continue;
    for (const p of desired.overlapping(net)) touched.set(p.ip, p.net);
    for (const entry of desired.wantedPrefixes)
      if (contains(net, entry.net)) touched.set(entry.ip, entry.net);
  }
  const batch: EnforcementBatch = { add: [], remove: [] };
  for (const [ip, net] of touched) {
    const entry = desired.byIp.get(ip);
    if (entry) batch.add.push(desired.element(entry, now, maxTimeout));
    else batch.remove.push({ ip, family: net.family });
  }
  return { batch, invalid };
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
