/** Limits of the circuit breaker: new bans per rolling minute, for all jails and per jail. */
export interface BreakerLimits {
  /** 0 = no global limit. */
  global: number;
  /** Jails with a limit of their own. */
  perJail: Readonly<Record<string, number>>;
}

export interface BreakerTrip {
  /** `global` or the jail whose own limit was reached. */
  scope: string;
  limit: number;
  jail: string;
}

export interface BreakerStatus {
  limits: BreakerLimits;
  /** New bans admitted in the last minute, all jails together. */
  lastMinute: number;
  /** Refused in the last minute, by scope (`global` or a jail): the breaker is open while any is > 0. */
  open: Array<{ scope: string; limit: number; refused: number; since: number }>;
  refusedTotal: number;
}

const WINDOW_MS = 60_000;

/**
 * The brake on mass bans: a rule that matches everything must not push 50,000 bans to every host.
 * A new ban (an address without an active ban in that jail) is admitted while fewer than the limit
 * were admitted in the last 60 s, globally and in its jail; past that it is refused until the window
 * has room again. Per process: each responder replica brakes its own deliveries.
 */
export class CircuitBreaker {
  private readonly admitted: Array<{ at: number; jail: string }> = [];
  private readonly refused = new Map<string, { limit: number; at: number[]; since: number }>();
  private refusedTotal = 0;

  constructor(
    private readonly limits: BreakerLimits,
    /** Called on each refusal; the caller decides how often to log. */
    private readonly onRefuse: (trip: BreakerTrip) => void = () => {},
  ) {}

  private prune(now: number): void {
    while (this.admitted.length > 0 && this.admitted[0]!.at <= now - WINDOW_MS) this.admitted.shift();
    for (const [scope, entry] of this.refused) {
      while (entry.at.length > 0 && entry.at[0]! <= now - WINDOW_MS) entry.at.shift();
      if (entry.at.length === 0) this.refused.delete(scope);
    }
  }

  admit(jail: string, now: number): boolean {
    this.prune(now);
    const { global, perJail } = this.limits;
    let trip: BreakerTrip | undefined;
    if (global > 0 && this.admitted.length >= global) trip = { scope: 'global', limit: global, jail };
    const own = Object.hasOwn(perJail, jail) ? perJail[jail]! : 0;
    if (!trip && own > 0 && this.admitted.filter((a) => a.jail === jail).length >= own)
      trip = { scope: jail, limit: own, jail };
    if (!trip) {
      this.admitted.push({ at: now, jail });
      return true;
    }
    const entry = this.refused.get(trip.scope) ?? { limit: trip.limit, at: [], since: now };
    entry.at.push(now);
    this.refused.set(trip.scope, entry);
    this.refusedTotal++;
    this.onRefuse(trip);
    return false;
  }

  status(now: number): BreakerStatus {
    this.prune(now);
    return {
      limits: this.limits,
      lastMinute: this.admitted.length,
      open: [...this.refused].map(([scope, e]) => ({
        scope,
        limit: e.limit,
        refused: e.at.length,
        since: e.since,
      })),
      refusedTotal: this.refusedTotal,
    };
  }
}
