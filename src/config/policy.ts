import { networkInterfaces } from 'node:os';
import { type Network, NetworkSet, parseAddress, parseNetwork } from '../domain/ip.js';
import type { JailSettings } from '../domain/jail.js';
import type { DecisionPolicy, ScopeFallback } from '../domain/policy.js';
import type { Config } from './load.js';
import type { HostConfig } from './schema.js';

export interface PolicyOptions {
  now?: () => number;
  random?: () => number;
  /** Addresses of this machine; defaults to every local interface address. */
  localAddresses?: readonly string[];
  /**
   * Called when scope `origin` cannot name a host (no host label, or no host matches it) and the ban
   * falls back to every host: an operator should fix the labels or the hosts' `match`.
   */
  onScopeFallback?: (event: ScopeFallback) => void;
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
  const networks: Network[] = [];
  for (const entry of config.server.ownAddresses) {
    const net = parseNetwork(entry);
    if (net) networks.push(net);
  }
  for (const address of localAddresses) {
    const net = parseAddress(address);
    if (net) networks.push(net);
  }
  for (const host of config.hosts) {
    const net = parseAddress(host.address.replace(/^\[(.*)\]$/, '$1'));
    if (net) networks.push(net);
  }
  return new NetworkSet(networks);
}

/** Builds the domain's DecisionPolicy from a validated Config. */
export function buildDecisionPolicy(config: Config, options: PolicyOptions = {}): DecisionPolicy {
  const allHosts = config.hosts.map((host) => host.name);
  const protectedNetworks = protectedNetworksFor(config, options.localAddresses ?? localInterfaceAddresses());

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

  return {
    jails: config.jails,
    targetsFor,
    protectedNetworks,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
  };
}
