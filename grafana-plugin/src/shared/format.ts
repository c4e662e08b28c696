const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const BUCKETS: Array<[number, string]> = [
  [MINUTE, '1m'],
  [5 * MINUTE, '5m'],
  [15 * MINUTE, '15m'],
  [HOUR, '1h'],
  [3 * HOUR, '3h'],
  [6 * HOUR, '6h'],
  [12 * HOUR, '12h'],
  [DAY, '1d'],
  [7 * DAY, '7d'],
  [30 * DAY, '30d'],
];

/** The bucket for the history series: the narrowest giving at most 60 bars over the range. */
function bucket(rangeMs: number): [number, string] {
  return BUCKETS.find(([width]) => rangeMs / width <= 60) ?? BUCKETS[BUCKETS.length - 1]!;
}

/** The bucket as the responder's `bucket` parameter, e.g. `15m`. */
export function bucketFor(rangeMs: number): string {
  return bucket(rangeMs)[1];
}

/** The same bucket in milliseconds, for drawing. */
export function bucketMs(rangeMs: number): number {
  return bucket(rangeMs)[0];
}

/** `2d 3h`, `4h 05m`, `12m 09s`, `42s`: two units, enough to read at a glance. */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return 'expired';
  const seconds = Math.floor(ms / 1000);
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const secs = seconds % 60;
  const pad = (value: number) => String(value).padStart(2, '0');
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${pad(secs)}s`;
  return `${secs}s`;
}

/** `5m ago`, `3h ago`, `2d ago` for the banned-at column; the tooltip carries the exact time. */
export function formatAgo(ms: number): string {
  if (ms < MINUTE) return 'just now';
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)}m ago`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)}h ago`;
  return `${Math.floor(ms / DAY)}d ago`;
}

/** `1st`, `2nd`, `3rd`, `11th`, `22nd`. */
export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

/**
 * A ban's escalation level as operators count offences: level 0 is the address's 1st offence in
 * the jail's memory window, level 2 its 3rd (two earlier bans made this one longer).
 */
export function offenceNumber(level: number): number {
  return level + 1;
}
