/**
 * The responder's JSON as documented in docs/api.md. Times arrive as ISO strings; epoch
 * milliseconds are accepted too so the datasource survives either encoding.
 */
export type ApiTime = string | number;

export interface ApiBanTarget {
  host: string;
  desired: 'present' | 'absent';
  /** `dry-run`: the responder runs the dry-run transport; the change would apply, nothing was sent. */
  state: 'pending' | 'applied' | 'failed' | 'dry-run';
  attempts: number;
  lastError: string | null;
  appliedAt: ApiTime | null;
}

export interface ApiBan {
  id: number;
  ip: string;
  jail: string;
  level: number;
  createdAt: ApiTime;
  updatedAt: ApiTime;
  expiresAt: ApiTime | null;
  liftedAt: ApiTime | null;
  liftedBy: string | null;
  offences: number;
  source: string;
  summary: string | null;
  sample: string | null;
  hosts: ApiBanTarget[];
}

export interface ApiBansResponse {
  bans: ApiBan[];
  now?: ApiTime;
}

export interface ApiStats {
  series: Array<{ time: ApiTime; jail: string; bans: number }>;
  topIps: Array<{ ip: string; bans: number; lastBanAt: ApiTime }>;
  topPrefixes: Array<{ prefix: string; bans: number }>;
  perJail: Array<{ jail: string; bans: number; active: number }>;
  perHost: Array<{ host: string; bans: number; active: number }>;
}

/** GET /api/v1/jails: the settings the panel needs for a ban's logs link. */
export interface ApiJail {
  name: string;
  findtime: number;
  /** The jail's log query (selector, filters, extraction), when the responder publishes it. */
  logql?: string;
  /** One log query per rule, for a jail split into several rules. */
  logqlParts?: string[];
  /** The label that query extracts the address into. */
  ipLabel?: string;
}

/** POST /api/v1/unban → the bans it lifted. */
export interface ApiUnbanResponse {
  ip: string;
  unbanned: ApiBan[];
}

export function toEpochMs(value: ApiTime | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
