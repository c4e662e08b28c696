/**
 * From a ban to the log lines behind it: the LogQL query and time range that Grafana Explore opens
 * on a Loki datasource.
 *
 * The query is the jail's own log pipeline when the responder publishes it (`logql` on
 * GET /api/v1/jails: the selector, line filters and `regexp` extraction that its alert rule counts),
 * narrowed to the banned address with Loki's `ip()` label filter. A jail split into several rules
 * publishes one pipeline per rule (`logqlParts`): Explore runs them side by side, one query each. Until then it is the panel's
 * stream selector followed by a line filter that matches the address (or every address of a banned
 * network) as it is written in logs.
 */

export interface JailLogs {
  name: string;
  /** Seconds: how far back the rule counts failures. */
  findtime: number;
  /** The jail's log query, without the metric aggregation, when the responder provides it. */
  logql?: string;
  /** One log query per rule of the jail; together they show every line the jail counts. */
  logqlParts?: string[];
  /** The label its `regexp` extracts the address into (default `ip`). */
  ipLabel?: string;
}

export interface LogsQuery {
  /** The first query; `exprs` has all of them (one per rule of the jail). */
  expr: string;
  exprs: string[];
  from: number;
  to: number;
}

const DEFAULT_FINDTIME_S = 600;
/** Lines written just after the ban (the last attempts, the firewall's own log) belong to it too. */
const AFTER_MS = 60_000;

/** The query and range for one ban. `selector` is used only when the jail has no published query. */
export function logsQuery(
  ban: { ip: string; jail: string; createdAt: number; updatedAt: number },
  jail: JailLogs | undefined,
  selector: string,
): LogsQuery {
  const findtime = (jail?.findtime ?? DEFAULT_FINDTIME_S) * 1000;
  const from = ban.createdAt - findtime;
  const to = Math.max(ban.createdAt, ban.updatedAt) + AFTER_MS;
  const pipelines = jail?.logqlParts?.length ? jail.logqlParts : jail?.logql ? [jail.logql] : [];
  if (pipelines.length > 0) {
    const exprs = pipelines.map((pipeline) => `${pipeline} | ${jail?.ipLabel ?? 'ip'} = ip("${ban.ip}")`);
    return { expr: exprs[0]!, exprs, from, to };
  }
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${jail}` is the placeholder operators write.
  const streams = selector.split('${jail}').join(ban.jail);
  const expr = `${streams} |~ \`${addressPattern(ban.ip)}\``;
  return { expr, exprs: [expr], from, to };
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * An RE2 pattern that matches the address, or any address of the network, as text in a log line,
 * and not a longer number around it (`10.0.0.1` does not match `10.0.0.12`).
 */
export function addressPattern(ip: string): string {
  const [address = '', lengthText] = ip.split('/');
  if (address.includes(':')) return ipv6Pattern(address, lengthText === undefined ? 128 : Number(lengthText));
  return ipv4Pattern(address, lengthText === undefined ? 32 : Number(lengthText));
}

function ipv4Pattern(address: string, length: number): string {
  const octets = address.split('.').map(Number);
  const fixed = Math.floor(length / 8);
  const parts: string[] = octets.slice(0, fixed).map(String);
  if (fixed < 4) {
    const partial = length % 8;
    const start = octets[fixed] ?? 0;
    const count = 2 ** (8 - partial);
    parts.push(
      partial === 0
        ? '[0-9]{1,3}'
        : `(?:${Array.from({ length: count }, (_, i) => String(start + i)).join('|')})`,
    );
    for (let i = fixed + 1; i < 4; i++) parts.push('[0-9]{1,3}');
  }
  return `(?:^|[^0-9.])${parts.join('\\.')}(?:[^0-9]|$)`;
}

/** The eight groups of an IPv6 address as numbers. */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...new Array(zeros).fill('0'), ...tailGroups].map((group) =>
    Number.parseInt(group, 16),
  );
}

const hex = (group: number) => `0{0,3}${group.toString(16)}`;

function ipv6Pattern(address: string, length: number): string {
  const groups = ipv6Groups(address);
  if (length >= 128) return `(?i)(?:^|[^0-9a-f:])${escapeRegex(address)}(?:[^0-9a-f:]|$)`;
  // The network's whole groups, written out or (for its trailing zero groups) folded into `::`. A
  // length inside a group (/56) matches the wider network of its whole groups (/48): more lines, none
  // missed.
  const whole = Math.floor(length / 16);
  const prefix = groups.slice(0, whole);
  let lastNonZero = prefix.length - 1;
  while (lastNonZero >= 0 && prefix[lastNonZero] === 0) lastNonZero--;
  const explicit = `${prefix.map(hex).join(':')}:`;
  const folded =
    lastNonZero < prefix.length - 1
      ? `|${prefix
          .slice(0, lastNonZero + 1)
          .map(hex)
          .join(':')}::`
      : '';
  return `(?i)(?:^|[^0-9a-f:])(?:${explicit}${folded})`;
}

/**
 * Grafana Explore's URL (schemaVersion 1, one pane) for the query on the Loki datasource,
 * relative to Grafana's root.
 */
export function exploreUrl(
  datasource: { uid: string; type: string },
  query: LogsQuery,
  orgId: number | undefined,
): string {
  const pane = {
    datasource: datasource.uid,
    queries: query.exprs.map((expr, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: { type: datasource.type, uid: datasource.uid },
      expr,
      queryType: 'range',
    })),
    range: { from: String(query.from), to: String(query.to) },
  };
  const params = new URLSearchParams({ schemaVersion: '1', panes: JSON.stringify({ lokiban: pane }) });
  if (orgId !== undefined) params.set('orgId', String(orgId));
  return `explore?${params}`;
}
