import { networkInterfaces } from 'node:os';
import { type BreakerTrip, CircuitBreaker } from '../domain/breaker.js';
import { type Network, NetworkSet, parseAddress, parseNetwork } from '../domain/ip.js';
import type { JailSettings } from '../domain/jail.js';
import type { DecisionPolicy, ScopeFallback } from '../domain/policy.js';
import type { Config } from './load.js';
import type { HostConfig } from './schema.js';

export interface PolicyOptions {
  now?: () => number;
  random?: () => number;
  /** Addresses of this machine, fixed; without it every local interface address, re-read as they change. */
  localAddresses?: readonly string[];
  /** How often the interface addresses are read again (default 10 s); tests inject the reader. */
  interfaces?: { read: () => string[]; refreshMs?: number };
  /**
   * Called when scope `origin` cannot name a host (no host label, or no host matches it) and the ban
   * falls back to every host: an operator should fix the labels or the hosts' `match`.
   */
  onScopeFallback?: (event: ScopeFallback) => void;
  /** Called on every alert the circuit breaker refuses (the caller rate-limits its log). */
  onBreakerRefuse?: (trip: BreakerTrip) => void;
}

/** Every address of this machine's interfaces (os.networkInterfaces), as canonical text. */
export function localInterfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .map((entry) => entry.address);
}

function hostMatches(host: HostConfig, originHost: string): boolean {
  return host.name === originHost || Object.values(host.match).includes(originHost);
}

/**
 * The networks no ban may cover: `server.ownAddresses`, this machine's interface addresses, and each
 * target host's `address` when it is an IP literal (a ban on it would cut lokiban's own SSH session).
 * Hosts named by DNS name are not resolved here; list their addresses in `server.ownAddresses`
 * or a jail's ignoreip if they can appear in logs.
 */
export function protectedNetworksFor(config: Config, localAddresses: readonly string[]): NetworkSet {
  return new NetworkSet([...configuredNetworks(config), ...addressesOf(localAddresses)]);
}

function addressesOf(addresses: readonly string[]): Network[] {
  const networks: Network[] = [];
  for (const address of addresses) {
    const net = parseAddress(address);
    if (net) networks.push(net);
  }
  return networks;
}

function configuredNetworks(config: Config): Network[] {
  const networks: Network[] = [];
  for (const entry of config.server.ownAddresses) {
    const net = parseNetwork(entry);
    if (net) networks.push(net);
  }
  for (const host of config.hosts) {
    const net = parseAddress(host.address.replace(/^\[(.*)\]$/, '$1'));
    if (net) networks.push(net);
  }
  return networks;
}

/**
 * The protected set kept live: the configured networks, this machine's interface addresses read
 * again every `refreshMs` (an address gained later through DHCP, a VPN or a failover IP is protected
 * within that time), and the addresses tracked sources report — the local address of each live SSH
 * connection to a host, which is the source the host's firewall sees lokiban by.
 */
export class LiveProtectedNetworks {
  private readonly fixed: NetworkSet;
  private readonly sources: Array<() => readonly string[]> = [];
  private local = new NetworkSet([]);
  private readAt = -Infinity;

  constructor(
    config: Config,
    private readonly interfaces: { read: () => string[]; refreshMs?: number } | undefined,
    fixedLocal: readonly string[],
    private readonly now: () => number,
  ) {
    this.fixed = new NetworkSet([...configuredNetworks(config), ...addressesOf(fixedLocal)]);
  }

  /** Adds a source of addresses asked on every decision (it must be cheap). */
  track(source: () => readonly string[]): void {
    this.sources.push(source);
  }

  covers(net: Network): Network | undefined {
    const hit = this.fixed.covers(net);
    if (hit) return hit;
    if (this.interfaces) {
      const now = this.now();
      if (now - this.readAt >= (this.interfaces.refreshMs ?? 10_000)) {
        this.local = new NetworkSet(addressesOf(this.interfaces.read()));
        this.readAt = now;
      }
      const local = this.local.covers(net);
      if (local) return local;
    }
    for (const source of this.sources) {
      const live = new NetworkSet(addressesOf(source())).covers(net);
      if (live) return live;
    }
    return undefined;
  }
}

/** Builds the domain's DecisionPolicy from a validated Config. */
export function buildDecisionPolicy(
  config: Config,
  options: PolicyOptions = {},
): DecisionPolicy & { protectedNetworks: LiveProtectedNetworks; breaker: CircuitBreaker } {
  const allHosts = config.hosts.map((host) => host.name);
  const protectedNetworks = new LiveProtectedNetworks(
    config,
    options.localAddresses ? undefined : (options.interfaces ?? { read: localInterfaceAddresses }),
    options.localAddresses ?? [],
    options.now ?? Date.now,
  );

  const targetsFor = (jail: JailSettings, originHost: string | undefined): string[] => {
    const { scope } = jail;
    if (scope === 'all') return [...allHosts];
    if (scope === 'origin') {
      const matched =
        originHost === undefined
          ? []
          : config.hosts.filter((host) => hostMatches(host, originHost)).map((host) => host.name);
      if (matched.length > 0) return matched;
      options.onScopeFallback?.({
        jail: jail.name,
        originHost,
        reason:
          originHost === undefined
            ? 'the alert has no host label'
            : `no host is named "${originHost}" or matches it`,
      });
      return [...allHosts];
    }
    const wanted = new Set(scope);
    return allHosts.filter((name) => wanted.has(name));
  };

  const perJail: Record<string, number> = {};
  for (const jail of Object.values(config.jails))
    if (jail.maxNewBansPerMinute) perJail[jail.name] = jail.maxNewBansPerMinute;
  const breaker = new CircuitBreaker(
    { global: config.safety.maxNewBansPerMinute, perJail },
    options.onBreakerRefuse,
  );

  return {
    jails: config.jails,
    targetsFor,
    protectedNetworks,
    breaker,
    admitNewBan: (jail, now) => breaker.admit(jail, now),
    breakerStatus: (now) => breaker.status(now),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
  };
}
