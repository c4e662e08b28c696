import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { formatNetwork, parseNetwork } from '../domain/ip.js';
import { ApiClient, DEFAULT_URL } from './api-client.js';
import { CliError, type CliIo, EXIT_CONFIG } from './io.js';
import { renderList, renderTable, renderTree } from './table.js';

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

interface ClientOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds the options every API command shares. */
function withClientOptions(command: Command): Command {
  return command
    .option('--url <url>', `responder URL (env LOKIBAN_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env LOKIBAN_TOKEN); prefer the env variable: flags show in ps')
    .option('--json', 'print the API answer as JSON');
}

function clientFor(options: ClientOptions, io: CliIo): ApiClient {
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

export function bansTable(bans: BanJson[], now: number): string {
  if (bans.length === 0) return 'no active bans';
  return renderTable(
    ['IP', 'JAIL', 'LEVEL', 'REMAINING', 'EXPIRES', 'SOURCE', 'HOSTS'],
    bans.map((ban) => [
      ban.ip,
      ban.jail,
      String(ban.level),
      remaining(ban.expiresAt, now),
      ban.expiresAt ?? 'never',
      ban.source,
      hostsCell(ban),
    ]),
  );
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
      const data = await client.request<{ jails: JailJson[] }>('GET', '/api/v1/jails');
      print(options, data, () =>
        [
          renderList('Status', [
            ['Number of jail', String(data.jails.length)],
            ['Jail list', data.jails.map((j) => j.name).join(', ')],
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
      .description('active bans with remaining time and hosts (needs a read token)')
      .option('--jail <jail>', 'only this jail'),
  ).action(async (options: ClientOptions & { jail?: string }) => {
    const query = new URLSearchParams({ active: 'true', limit: '100000' });
    if (options.jail) query.set('jail', options.jail);
    const data = await clientFor(options, io).request<{ bans: BanJson[]; now: string }>(
      'GET',
      `/api/v1/bans?${query}`,
    );
    print(options, data, () => bansTable(data.bans, Date.parse(data.now)));
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
    const ban = await clientFor(options, io).request<BanJson>('POST', '/api/v1/bans', {
      ip: target,
      ...(options.jail ? { jail: options.jail } : {}),
      ...(options.for !== undefined ? { duration: options.for } : {}),
      ...(options.reason ? { reason: options.reason } : {}),
    });
    print(
      options,
      ban,
      () =>
        `${ban.ip} banned in jail ${ban.jail} ${ban.expiresAt === null ? 'permanently' : `until ${ban.expiresAt} (${remaining(ban.expiresAt, Date.now())})`} ${ban.hosts.length > 0 ? `on ${hostsCell(ban)}` : '(no hosts configured)'}`,
    );
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
    print(options, data, () =>
      data.unbanned.length === 0
        ? `${data.ip} is not banned${options.jail ? ` in jail ${options.jail}` : ''}`
        : `${data.ip} unbanned in ${data.unbanned.map((ban) => ban.jail).join(', ')}`,
    );
  });
}
