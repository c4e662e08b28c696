import type { NetworkSet } from './ip.js';
import type { JailSettings } from './jail.js';

/**
 * Everything a decision needs besides the offence and the address's history. config/policy.ts builds
 * it from a validated Config; the store applies it inside its own transaction, so SQLite and Postgres
 * share one set of semantics.
 */
export interface DecisionPolicy {
  jails: Readonly<Record<string, JailSettings>>;
  /** Host names a ban in `jail` must reach, given the host the offence was seen on. */
  targetsFor(jail: JailSettings, originHost: string | undefined): string[];
  /**
   * Never banned, whatever the jail says: the responder's own addresses and every target host's
   * address. Asked on every decision, so it can follow addresses the responder gains later.
   */
  protectedNetworks: Pick<NetworkSet, 'covers'>;
  now(): number;
  /** [0,1) — injectable so rndtime is testable. */
  random(): number;
}

/** Scope `origin` could not name a host, so the ban falls back to every host. */
export interface ScopeFallback {
  jail: string;
  originHost: string | undefined;
  reason: string;
}
