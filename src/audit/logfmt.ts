import type { AuditEvent } from '../store/port.js';

/** Characters a value may carry unquoted: enough for IPs, CIDRs, jail and host names, numbers and times. */
const BARE = /^[A-Za-z0-9_.:/@+,-]+$/;

/**
 * One logfmt value. Anything beyond the bare set is quoted, and inside quotes every character that
 * could end the value, end the line or spell a key is escaped: `\\`, `\"`, `\n`, `\r`, `\t`, and
 * `=`, control characters and the Unicode line separators as `\uXXXX` (the JSON escapes Loki's
 * `| logfmt` parser decodes). With `=` escaped, no value can contain ` jail=` or ` ip=`, so substring
 * filters such as the recidive jail's `!~ " jail=recidive"` only ever see the real keys.
 */
export function logfmtValue(value: string): string {
  if (BARE.test(value)) return value;
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === '\\') out += '\\\\';
    else if (char === '"') out += '\\"';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (
      char === '=' ||
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += char;
  }
  return `${out}"`;
}

type Field = [key: string, value: string | number | null | undefined];

function line(fields: Field[]): string {
  return fields
    .filter((field): field is [string, string | number] => field[1] !== null && field[1] !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? String(value) : logfmtValue(value)}`)
    .join(' ');
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function list(value: unknown): string | undefined {
  return Array.isArray(value) && value.length > 0 ? value.map(String).join(',') : undefined;
}

function time(value: unknown): string | undefined {
  if (value === null) return 'never';
  const ms = num(value);
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** Seconds from the event to the expiry, -1 for a permanent ban (fail2ban's spelling). */
function bantime(at: number, expiresAt: unknown): number | undefined {
  if (expiresAt === null) return -1;
  const ms = num(expiresAt);
  return ms === undefined ? undefined : Math.max(0, Math.round((ms - at) / 1000));
}

/**
 * The audit line for one event: `event`, `ip` and `jail` always first and in that order (the recidive
 * jail anchors its regexp on them), then what the event carries, then `id`. It depends on the event
 * alone, so pushing the same event twice yields the identical entry, which Loki keeps once.
 */
export function formatAuditLine(event: AuditEvent, extra: { summary?: string | null } = {}): string {
  const d = event.detail;
  const head: Field[] = [
    ['event', event.kind],
    ['ip', event.ip ?? ''],
    ['jail', event.jail ?? ''],
  ];
  let body: Field[];
  switch (event.kind) {
    case 'ban':
      body = [
        ['bantime', bantime(event.at, d.expiresAt)],
        ['level', num(d.level)],
        ['expires', time(d.expiresAt)],
        ['hosts', list(d.hosts)],
        ['origin', str(d.originHost)],
      ];
      break;
    case 'extend':
      body = [
        ['bantime', bantime(event.at, d.expiresAt)],
        ['level', num(d.level)],
        ['expires', time(d.expiresAt)],
        ['previous_expires', time(d.previousExpiresAt)],
        ['added_hosts', list(d.addedHosts)],
        ['origin', str(d.originHost)],
      ];
      break;
    case 'unban':
      body = [['expires', time(d.expiresAt)]];
      break;
    case 'ignored':
      body = [['outcome', str(d.outcome)]];
      break;
    default:
      body = [];
  }
  return line([
    ...head,
    ...body,
    ['actor', event.actor],
    ['ban_id', event.banId],
    ['reason', str(d.reason)],
    ['summary', str(extra.summary ?? undefined)],
    ['id', event.id],
  ]);
}
