/** fail2ban's `bantime.increment` block, with every default applied. */
export interface IncrementSettings {
  enabled: boolean;
  factor: number;
  multipliers: number[];
  maxtime: number;
  rndtime: number;
  overalljails: boolean;
  memory: number;
}

/** A jail with every default applied: what the decision engine and the rule renderer read. */
export interface JailSettings {
  name: string;
  enabled: boolean;
  bantime: number;
  findtime: number;
  maxretry: number;
  ignoreip: string[];
  scope: 'all' | 'origin' | string[];
  ipv6prefix: number;
  increment: IncrementSettings;
  selector?: string;
  /** Circuit breaker: most new bans per rolling minute in this jail (absent = only the global limit). */
  maxNewBansPerMinute?: number;
}
