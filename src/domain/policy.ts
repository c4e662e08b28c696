import type { BreakerStatus } from './breaker.js';
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
  /**
   * The circuit breaker: asked before an alert makes a new ban (not for extensions, repeats or manual
   * bans). False = refused with `ignored-breaker`, and the offence is not recorded, so a repeat
   * delivery after the storm is decided again.
   */
  admitNewBan?(jail: string, now: number): boolean;
  /** What the breaker admitted and refused in the last minute, for `GET /api/v1/jails`. */
  breakerStatus?(now: number): BreakerStatus;
}

/** Scope `origin` could not name a host, so the ban falls back to every host. */
export interface ScopeFallback {
  jail: string;
  originHost: string | undefined;
  reason: string;
}
