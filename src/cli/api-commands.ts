import type { Command } from 'commander';
import { closest } from '../config/suggest.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { formatNetwork, parseNetwork } from '../domain/ip.js';
import { MANUAL_JAIL } from '../domain/types.js';
import { ApiClient, DEFAULT_URL } from './api-client.js';
import { CliError, type CliIo, EXIT_CONFIG } from './io.js';
import { renderList, renderTable, renderTree } from './table.js';

/** The API's cap on one `GET /api/v1/bans`. */
const API_MAX_LIMIT = 100_000;
/** A terminal's worth of bans; `--limit` and `--json` for more. */
const BANNED_DEFAULT_LIMIT = 1000;

interface BanJson {
  id: number;
  ip: string;
  jail: string;
  level: number;
  createdAt: string;
  expiresAt: string | null;
  liftedAt: string | null;
  offences: number;
  source: string;
  summary: string | null;
  hosts: Array<{ host: string; desired: string; state: string }>;
}

interface JailJson {
  name: string;
  enabled: boolean;
  bantime: number;
  findtime: number;
  maxretry: number;
  ipv6prefix: number;
  scope: string | string[];
  increment: { enabled: boolean; maxtime: number };
  active: number;
  total: number;
  bans?: BanJson[];
}

export interface ClientOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds the options every API command shares. */
export function withClientOptions(command: Command): Command {
  return command
    .option('--url <url>', `responder URL (env LOKIBAN_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env LOKIBAN_TOKEN); prefer the env variable: flags show in ps')
    .option('--json', 'print the API answer as JSON');
}

export function clientFor(options: ClientOptions, io: CliIo): ApiClient {
  return new ApiClient({
    url: options.url ?? io.env.LOKIBAN_URL ?? DEFAULT_URL,
    token: options.token ?? io.env.LOKIBAN_TOKEN,
  });
}

/** Remaining time as an operator reads it: `59m58s`, `permanent`, `expired`. */
export function remaining(expiresAt: string | null, now: number): string {
  if (expiresAt === null) return 'permanent';
  const seconds = Math.round((Date.parse(expiresAt) - now) / 1000);
  return seconds <= 0 ? 'expired' : formatDuration(seconds);
}

interface BreakerJson {
  maxNewBansPerMinute: number;
  newBansLastMinute: number;
  open: Array<{ scope: string; limit: number; refused: number }>;
}

/** `closed (12/1000 new bans in the last minute)` or `OPEN: global 1000/min, 52 refused …`. */
export function breakerLine(breaker: BreakerJson): string {
  const limit = breaker.maxNewBansPerMinute > 0 ? String(breaker.maxNewBansPerMinute) : 'no limit';
  const counts = `${breaker.newBansLastMinute}/${limit} new bans in the last minute`;
  if (breaker.open.length === 0) return `closed (${counts})`;
  const open = breaker.open.map((o) => `${o.scope} ${o.limit}/min, ${o.refused} refused`).join('; ');
  return `OPEN: ${open} (${counts})`;
}

function hostsCell(ban: BanJson): string {
  const present = ban.hosts.filter((host) => host.desired === 'present');
  if (present.length === 0) return '-';
  const cell = present
    .map((host) =>
      host.state === 'applied' || host.state === 'dry-run' ? host.host : `${host.host}(${host.state})`,
    )
    .join(',');
  // The responder runs the dry-run transport: nothing reached these firewalls.
  return present.some((host) => host.state === 'dry-run') ? `${cell} dry-run (would apply)` : cell;
}

const SUMMARY_WIDTH = 60;

/** The ban's reason (manual bans) or its alert's summary, cut to fit a terminal line. */
function summaryCell(ban: BanJson): string {
  const text = (ban.summary ?? '').replace(/\s+/g, ' ').trim();
  if (text === '') return '-';
  return text.length > SUMMARY_WIDTH ? `${text.slice(0, SUMMARY_WIDTH - 1)}…` : text;
}

export function bansTable(bans: BanJson[], now: number): string {
  if (bans.length === 0) return 'no active bans';
  return renderTable(
    ['IP', 'JAIL', 'LEVEL', 'REMAINING', 'EXPIRES', 'SOURCE', 'HOSTS', 'SUMMARY'],
    bans.map((ban) => [
      ban.ip,
      ban.jail,
      String(ban.level),
      remaining(ban.expiresAt, now),
      ban.expiresAt ?? 'never',
      ban.source,
      hostsCell(ban),
      summaryCell(ban),
    ]),
  );
}

/** How a ban reads after `lokiban ban`: new, lengthened, or left as it was because it already lasts longer. */
export function banOutcomeLine(
  ban: BanJson,
  before: ReadonlyMap<number, string | null>,
  now: number,
): string {
  const until =
    ban.expiresAt === null ? 'permanently' : `until ${ban.expiresAt} (${remaining(ban.expiresAt, now)})`;
  const where = ban.hosts.length > 0 ? `on ${hostsCell(ban)}` : '(no hosts configured)';
  if (!before.has(ban.id)) return `${ban.ip} banned in jail ${ban.jail} ${until} ${where}`;
  if (before.get(ban.id) === ban.expiresAt) {
    return `${ban.ip} unchanged, banned in jail ${ban.jail} ${until} ${where}: the active ban already lasts at least as long`;
  }
  return `${ban.ip} ban extended in jail ${ban.jail} ${until} ${where}`;
}

/** One line per lifted ban, naming its network and jail: a covering prefix ban is not a surprise. */
export function unbanLines(ip: string, lifted: BanJson[], jail: string | undefined): string {
  if (lifted.length === 0) return `${ip} is not banned${jail ? ` in jail ${jail}` : ''}`;
  return lifted
    .map(
      (ban) =>
        `${ip} unbanned: lifted ${ban.ip} in jail ${ban.jail}${ban.ip === ip ? '' : ` (covers ${ip})`}`,
    )
    .join('\n');
}

function validIp(value: string): string {
  const net = parseNetwork(value.trim());
  if (!net) throw new CliError(`"${value}" is not an IPv4/IPv6 address or CIDR`, EXIT_CONFIG);
  return formatNetwork(net);
}

export function registerApiCommands(program: Command, io: CliIo): void {
  const print = (options: ClientOptions, data: unknown, text: () => string) =>
    io.out(options.json ? JSON.stringify(data, null, 2) : text());

  withClientOptions(
    program
      .command('status [jail]')
      .description('jails and their bans, like fail2ban-client status [JAIL] (needs a read token)'),
  ).action(async (jail: string | undefined, options: ClientOptions) => {
    const client = clientFor(options, io);
    if (jail === undefined) {
      const data = await client.request<{ jails: JailJson[]; breaker?: BreakerJson | null }>(
        'GET',
        '/api/v1/jails',
      );
      print(options, data, () =>
        [
          renderList('Status', [
            ['Number of jail', String(data.jails.length)],
            ['Jail list', data.jails.map((j) => j.name).join(', ')],
            ...(data.breaker ? [['Circuit breaker', breakerLine(data.breaker)] as [string, string]] : []),
          ]),
          '',
          renderTable(
            ['JAIL', 'ENABLED', 'BANNED', 'TOTAL', 'BANTIME', 'FINDTIME', 'MAXRETRY'],
            data.jails.map((j) => [
              j.name,
              j.enabled ? 'yes' : 'no',
              String(j.active),
              String(j.total),
              formatDuration(j.bantime),
              formatDuration(j.findtime),
              String(j.maxretry),
            ]),
          ),
        ].join('\n'),
      );
      return;
    }
    const data = await client.request<JailJson & { now: string }>(
      'GET',
      `/api/v1/jails/${encodeURIComponent(jail)}`,
    );
    print(options, data, () =>
      renderTree(`Status for the jail: ${data.name}${data.enabled ? '' : ' (disabled)'}`, [
        [
          'Settings',
          [
            [
              'bantime',
              `${formatDuration(data.bantime)}${data.increment.enabled ? ` (increment, max ${formatDuration(data.increment.maxtime)})` : ''}`,
            ],
            ['findtime', formatDuration(data.findtime)],
            ['maxretry', String(data.maxretry)],
            ['scope', Array.isArray(data.scope) ? data.scope.join(', ') : data.scope],
          ],
        ],
        [
          'Actions',
          [
            ['Currently banned', String(data.active)],
            ['Total banned', String(data.total)],
            ['Banned IP list', (data.bans ?? []).map((ban) => ban.ip).join(' ')],
          ],
        ],
      ]),
    );
  });

  withClientOptions(
    program
      .command('banned')
      .description('active bans with remaining time, hosts and summary (needs a read token)')
      .option('--jail <jail>', 'only this jail')
      .option(
        '--limit <n>',
        `show at most N bans (default ${BANNED_DEFAULT_LIMIT}, at most ${API_MAX_LIMIT})`,
      ),
  ).action(async (options: ClientOptions & { jail?: string; limit?: string }) => {
    const limit = options.limit === undefined ? BANNED_DEFAULT_LIMIT : Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > API_MAX_LIMIT) {
      throw new CliError(
        `--limit: expected a whole number from 1 to ${API_MAX_LIMIT} (got "${options.limit}")`,
        EXIT_CONFIG,
      );
    }
    const client = clientFor(options, io);
    // The jail list says whether the jail exists and how many bans are active in all: the count of
    // what the page leaves out comes from the responder, not from guessing.
    const { jails } = await client.request<{ jails: JailJson[] }>('GET', '/api/v1/jails');
    const selected = options.jail === undefined ? jails : jails.filter((j) => j.name === options.jail);
    if (options.jail !== undefined && selected.length === 0 && options.jail !== MANUAL_JAIL) {
      const suggestion = closest(
        options.jail,
        jails.map((j) => j.name),
      );
      throw new CliError(
        `unknown jail "${options.jail}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (jails: ${jails.map((j) => j.name).join(', ')})`,
        EXIT_CONFIG,
      );
    }
    const query = new URLSearchParams({ active: 'true', limit: String(limit) });
    if (options.jail) query.set('jail', options.jail);
    const data = await client.request<{ bans: BanJson[]; now: string }>('GET', `/api/v1/bans?${query}`);
    const total = Math.max(
      data.bans.length,
      selected.reduce((sum, jail) => sum + jail.active, 0),
    );
    const omitted = total - data.bans.length;
    print(options, { ...data, total, omitted }, () => {
      const table = bansTable(data.bans, Date.parse(data.now));
      if (omitted <= 0) return table;
      return `${table}\n${omitted} more active ban${omitted === 1 ? '' : 's'} not shown (${data.bans.length} of ${total}; --limit N shows up to ${API_MAX_LIMIT}, the Grafana panel and GET /api/v1/stats summarise them all)`;
    });
  });

  withClientOptions(
    program
      .command('ban <ip>')
      .description('ban an address or CIDR by hand; an active ban is extended, never shortened (admin token)')
      .option('--jail <jail>', 'jail to ban in (default: "manual", with the default settings)')
      .option('--for <duration>', 'duration like 30m, 1h, 1d or -1 for permanent (default: the jail bantime)')
      .option('--reason <text>', 'why, for the audit log'),
  ).action(async (ip: string, options: ClientOptions & { jail?: string; for?: string; reason?: string }) => {
    const target = validIp(ip);
    if (options.for !== undefined && 'error' in parseDuration(options.for)) {
      throw new CliError(`--for: ${(parseDuration(options.for) as { error: string }).error}`, EXIT_CONFIG);
    }
    const client = clientFor(options, io);
    // The active bans of this address before the call tell a new ban from an extension and from a
    // ban left unchanged because it already lasts longer (the API answers the ban in each case).
    const query = new URLSearchParams({ active: 'true', ip: target, limit: '1000' });
    if (options.jail) query.set('jail', options.jail);
    const previous = await client.request<{ bans: BanJson[] }>('GET', `/api/v1/bans?${query}`);
    const before = new Map(previous.bans.map((ban) => [ban.id, ban.expiresAt]));
    const ban = await client.request<BanJson>('POST', '/api/v1/bans', {
      ip: target,
      ...(options.jail ? { jail: options.jail } : {}),
      ...(options.for !== undefined ? { duration: options.for } : {}),
      ...(options.reason ? { reason: options.reason } : {}),
    });
    print(options, ban, () => banOutcomeLine(ban, before, Date.now()));
  });

  withClientOptions(
    program
      .command('unban <ip>')
      .description('lift the active bans of an address or CIDR (admin token); its history still counts')
      .option('--jail <jail>', 'only in this jail')
      .option('--reason <text>', 'why, for the audit log'),
  ).action(async (ip: string, options: ClientOptions & { jail?: string; reason?: string }) => {
    const target = validIp(ip);
    const data = await clientFor(options, io).request<{ ip: string; unbanned: BanJson[] }>(
      'POST',
      '/api/v1/unban',
      {
        ip: target,
        ...(options.jail ? { jail: options.jail } : {}),
        ...(options.reason ? { reason: options.reason } : {}),
      },
    );
    print(options, data, () => unbanLines(data.ip, data.unbanned, options.jail));
  });
}
