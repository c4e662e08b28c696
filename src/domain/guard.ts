import {
  banNetworkFor,
  formatNetwork,
  type Network,
  NetworkSet,
  neverBanReason,
  parseNetwork,
} from './ip.js';
import type { JailSettings } from './jail.js';
import type { OutcomeKind } from './types.js';

export type GuardOutcome = Extract<
  OutcomeKind,
  | 'ignored-allowlisted'
  | 'ignored-never-ban'
  | 'ignored-invalid-ip'
  | 'ignored-unknown-jail'
  | 'ignored-jail-disabled'
>;

export type GuardVerdict =
  | { allowed: true; jail: JailSettings; network: Network }
  | { allowed: false; outcome: GuardOutcome; reason: string };

export interface GuardContext {
  jails: Readonly<Record<string, JailSettings>>;
  /** The responder's own addresses and every target host's address: banning them locks lokiban out. */
  protectedNetworks: Pick<NetworkSet, 'covers'>;
}

// Jail settings are built once per config; parse each ignoreip list once, not once per alert.
const ignoreCache = new WeakMap<readonly string[], NetworkSet>();

function ignoreSetFor(jail: JailSettings): NetworkSet {
  let set = ignoreCache.get(jail.ignoreip);
  if (!set) {
    set = NetworkSet.parse(jail.ignoreip);
    ignoreCache.set(jail.ignoreip, set);
  }
  return set;
}

/**
 * The network a ban on `input` covers in `jail`: the address itself, or its IPv6 /ipv6prefix.
 * An explicit CIDR (manual bans) is kept as given. IPv4-mapped IPv6 becomes IPv4.
 */
export function banNetwork(input: string, jail: Pick<JailSettings, 'ipv6prefix'>): Network | undefined {
  const parsed = parseNetwork(input);
  if (!parsed) return undefined;
  const single = parsed.prefix === (parsed.family === 4 ? 32 : 128);
  return single ? banNetworkFor(parsed, jail.ipv6prefix) : parsed;
}

/**
 * Checked before any decision: is `jail` known and enabled, and may `reportedIp` (and the wider
 * network a ban on it would cover) be banned at all? The order is deliberate: the jail's `ignoreip`
 * first (fail2ban's semantics), then addresses no firewall should drop, then the networks that keep
 * lokiban and its targets reachable. A ban whose network merely overlaps a protected or allowlisted
 * address is refused too: dropping a /64 would drop the allowlisted address inside it.
 */
export function checkGuard(
  reportedIp: string,
  jailName: string,
  context: GuardContext,
  banIp?: string,
): GuardVerdict {
  const jail = Object.hasOwn(context.jails, jailName) ? context.jails[jailName] : undefined;
  if (!jail) return { allowed: false, outcome: 'ignored-unknown-jail', reason: `unknown jail "${jailName}"` };
  if (!jail.enabled)
    return { allowed: false, outcome: 'ignored-jail-disabled', reason: `jail "${jailName}" is disabled` };

  const reported = parseNetwork(reportedIp);
  const network = banIp === undefined ? banNetwork(reportedIp, jail) : parseNetwork(banIp);
  if (!reported || !network) {
    return {
      allowed: false,
      outcome: 'ignored-invalid-ip',
      reason: `"${banIp ?? reportedIp}" is not an IP address`,
    };
  }

  const ignore = ignoreSetFor(jail);
  for (const candidate of [reported, network]) {
    const hit = ignore.covers(candidate);
    if (hit) {
      return {
        allowed: false,
        outcome: 'ignored-allowlisted',
        reason: `${formatNetwork(candidate)} matches ignoreip ${formatNetwork(hit)} of jail "${jail.name}"`,
      };
    }
  }
  for (const candidate of [reported, network]) {
    const why = neverBanReason(candidate);
    if (why) {
      return { allowed: false, outcome: 'ignored-never-ban', reason: `${formatNetwork(candidate)}: ${why}` };
    }
  }
  const protectedHit = context.protectedNetworks.covers(network);
  if (protectedHit) {
    return {
      allowed: false,
      outcome: 'ignored-never-ban',
      reason: `${formatNetwork(network)} covers ${formatNetwork(protectedHit)}, an address of the responder or a target host`,
    };
  }
  return { allowed: true, jail, network };
}

/**
 * Thrown by a manual ban the guard refuses (unknown or disabled jail, allowlisted or never-ban
 * address): nothing was recorded. The HTTP layer answers 4xx with `reason`.
 */
export class BanRefusedError extends Error {
  constructor(
    readonly outcome: OutcomeKind,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'BanRefusedError';
  }
}
