import { createDataFrame, type DataFrame, type Field, FieldType } from '@grafana/data';
import { type ApiBan, type ApiBanTarget, type ApiStats, toEpochMs } from './api-types';

/** Frame names: the contract between the datasource (writer) and the panel (reader). */
export const FRAME = {
  bans: 'bans',
  series: 'bans-over-time',
  topIps: 'top-ips',
  topPrefixes: 'top-prefixes',
  perJail: 'per-jail',
  perHost: 'per-host',
} as const;

export type TargetSummary = 'applied' | 'dry-run' | 'pending' | 'failed' | 'lifted' | 'none';

/** The worst enforcement state across a ban's hosts: what an operator must look at first. */
export function summariseTargets(ban: ApiBan): TargetSummary {
  if (ban.liftedAt !== null) return 'lifted';
  const present = ban.hosts.filter((target) => target.desired === 'present');
  if (present.length === 0) return 'none';
  if (present.some((target) => target.state === 'failed')) return 'failed';
  if (present.some((target) => target.state === 'pending')) return 'pending';
  // A responder on the dry-run transport completes every target without touching a firewall.
  if (present.some((target) => target.state === 'dry-run')) return 'dry-run';
  return 'applied';
}

function describeTargets(ban: ApiBan): string {
  return ban.hosts
    .map((target) => {
      const state = target.state === 'dry-run' ? 'dry-run (would apply)' : target.state;
      const base = `${target.host}: ${target.desired === 'absent' ? 'removed' : state}`;
      return target.lastError ? `${base} (${target.lastError})` : base;
    })
    .join('; ');
}

export function bansToFrame(bans: ApiBan[], refId?: string): DataFrame {
  return createDataFrame({
    name: FRAME.bans,
    refId,
    fields: [
      { name: 'id', type: FieldType.number, values: bans.map((ban) => ban.id) },
      { name: 'ip', type: FieldType.string, values: bans.map((ban) => ban.ip) },
      { name: 'jail', type: FieldType.string, values: bans.map((ban) => ban.jail) },
      {
        name: 'hosts',
        type: FieldType.string,
        values: bans.map((ban) =>
          ban.hosts
            .filter((target) => target.desired === 'present')
            .map((target) => target.host)
            .join(', '),
        ),
      },
      { name: 'level', type: FieldType.number, values: bans.map((ban) => ban.level) },
      { name: 'offences', type: FieldType.number, values: bans.map((ban) => ban.offences) },
      { name: 'createdAt', type: FieldType.time, values: bans.map((ban) => toEpochMs(ban.createdAt)) },
      { name: 'updatedAt', type: FieldType.time, values: bans.map((ban) => toEpochMs(ban.updatedAt)) },
      // null marks a permanent ban, as in the API.
      { name: 'expiresAt', type: FieldType.time, values: bans.map((ban) => toEpochMs(ban.expiresAt)) },
      { name: 'liftedAt', type: FieldType.time, values: bans.map((ban) => toEpochMs(ban.liftedAt)) },
      { name: 'state', type: FieldType.string, values: bans.map(summariseTargets) },
      { name: 'targets', type: FieldType.string, values: bans.map(describeTargets) },
      // Each host's enforcement record, for the panel's details; the table panel shows it as JSON.
      { name: 'hostStates', type: FieldType.other, values: bans.map((ban) => ban.hosts) },
      { name: 'summary', type: FieldType.string, values: bans.map((ban) => ban.summary ?? '') },
      { name: 'sample', type: FieldType.string, values: bans.map((ban) => ban.sample ?? '') },
      { name: 'source', type: FieldType.string, values: bans.map((ban) => ban.source) },
    ],
  });
}

export function statsToFrames(stats: ApiStats, refId?: string): DataFrame[] {
  return [
    createDataFrame({
      name: FRAME.series,
      refId,
      fields: [
        { name: 'time', type: FieldType.time, values: stats.series.map((point) => toEpochMs(point.time)) },
        { name: 'jail', type: FieldType.string, values: stats.series.map((point) => point.jail) },
        { name: 'bans', type: FieldType.number, values: stats.series.map((point) => point.bans) },
      ],
    }),
    createDataFrame({
      name: FRAME.topIps,
      refId,
      fields: [
        { name: 'ip', type: FieldType.string, values: stats.topIps.map((row) => row.ip) },
        { name: 'bans', type: FieldType.number, values: stats.topIps.map((row) => row.bans) },
        {
          name: 'lastBanAt',
          type: FieldType.time,
          values: stats.topIps.map((row) => toEpochMs(row.lastBanAt)),
        },
      ],
    }),
    createDataFrame({
      name: FRAME.topPrefixes,
      refId,
      fields: [
        { name: 'prefix', type: FieldType.string, values: stats.topPrefixes.map((row) => row.prefix) },
        { name: 'bans', type: FieldType.number, values: stats.topPrefixes.map((row) => row.bans) },
      ],
    }),
    createDataFrame({
      name: FRAME.perJail,
      refId,
      fields: [
        { name: 'jail', type: FieldType.string, values: stats.perJail.map((row) => row.jail) },
        { name: 'bans', type: FieldType.number, values: stats.perJail.map((row) => row.bans) },
        { name: 'active', type: FieldType.number, values: stats.perJail.map((row) => row.active) },
      ],
    }),
    createDataFrame({
      name: FRAME.perHost,
      refId,
      fields: [
        { name: 'host', type: FieldType.string, values: stats.perHost.map((row) => row.host) },
        { name: 'bans', type: FieldType.number, values: stats.perHost.map((row) => row.bans) },
        { name: 'active', type: FieldType.number, values: stats.perHost.map((row) => row.active) },
      ],
    }),
  ];
}

/**
 * Bans over time as one frame per jail (time, bans): the multi-frame shape Grafana's time series
 * panel draws without transformations, one series per jail named after it.
 */
export function seriesPerJail(stats: ApiStats, refId?: string): DataFrame[] {
  const jails = [...new Set(stats.series.map((point) => point.jail))].sort();
  return jails.map((jail) => {
    const points = stats.series
      .filter((point) => point.jail === jail)
      .map((point) => ({ time: toEpochMs(point.time), bans: point.bans }))
      .sort((a, b) => (a.time ?? 0) - (b.time ?? 0));
    return createDataFrame({
      name: jail,
      refId,
      fields: [
        { name: 'time', type: FieldType.time, values: points.map((point) => point.time) },
        {
          name: 'bans',
          type: FieldType.number,
          values: points.map((point) => point.bans),
          labels: { jail },
          config: { displayNameFromDS: jail, unit: 'short', decimals: 0 },
        },
      ],
    });
  });
}

/** A field by name and type, so a renamed or retyped column is reported rather than misread. */
export function findField(frame: DataFrame, name: string, type: FieldType): Field | undefined {
  return frame.fields.find((field) => field.name === name && field.type === type);
}

export function findFrame(frames: DataFrame[], name: string): DataFrame | undefined {
  return frames.find((frame) => frame.name === name);
}

export interface BanRow {
  id: number;
  ip: string;
  jail: string;
  hosts: string;
  level: number;
  offences: number;
  createdAt: number;
  /** The last offence folded into the ban (or the last manual change). */
  updatedAt: number;
  expiresAt: number | null;
  liftedAt: number | null;
  state: TargetSummary;
  targets: string;
  hostStates: ApiBanTarget[];
  summary: string;
  sample: string;
}

const REQUIRED_BAN_FIELDS: Array<[string, FieldType]> = [
  ['ip', FieldType.string],
  ['jail', FieldType.string],
  ['createdAt', FieldType.time],
  ['expiresAt', FieldType.time],
];

export type ReadResult<T> = { rows: T[] } | { missing: string[] };

/** Reads the bans frame into rows; lists the required fields that are absent or of another type. */
export function readBans(frame: DataFrame): ReadResult<BanRow> {
  const missing = REQUIRED_BAN_FIELDS.filter(([name, type]) => !findField(frame, name, type)).map(
    ([name, type]) => `${name} (${type})`,
  );
  if (missing.length > 0) return { missing };
  const values = <T>(name: string, type: FieldType): T[] | undefined =>
    findField(frame, name, type)?.values as T[] | undefined;
  const ip = values<string>('ip', FieldType.string)!;
  const jail = values<string>('jail', FieldType.string)!;
  const createdAt = values<number>('createdAt', FieldType.time)!;
  const expiresAt = values<number | null>('expiresAt', FieldType.time)!;
  const id = values<number>('id', FieldType.number);
  const hosts = values<string>('hosts', FieldType.string);
  const level = values<number>('level', FieldType.number);
  const offences = values<number>('offences', FieldType.number);
  const updatedAt = values<number>('updatedAt', FieldType.time);
  const liftedAt = values<number | null>('liftedAt', FieldType.time);
  const state = values<TargetSummary>('state', FieldType.string);
  const targets = values<string>('targets', FieldType.string);
  const hostStates = values<ApiBanTarget[]>('hostStates', FieldType.other);
  const summary = values<string>('summary', FieldType.string);
  const sample = values<string>('sample', FieldType.string);
  const rows: BanRow[] = new Array(frame.length);
  for (let i = 0; i < frame.length; i++) {
    rows[i] = {
      id: id?.[i] ?? i,
      ip: ip[i] ?? '',
      jail: jail[i] ?? '',
      hosts: hosts?.[i] ?? '',
      level: level?.[i] ?? 0,
      offences: offences?.[i] ?? 0,
      createdAt: createdAt[i] ?? 0,
      updatedAt: updatedAt?.[i] ?? createdAt[i] ?? 0,
      expiresAt: expiresAt[i] ?? null,
      liftedAt: liftedAt?.[i] ?? null,
      state: state?.[i] ?? 'none',
      targets: targets?.[i] ?? '',
      hostStates: hostStates?.[i] ?? [],
      summary: summary?.[i] ?? '',
      sample: sample?.[i] ?? '',
    };
  }
  return { rows };
}

/** Reads a small aggregate frame (label + numbers) by the field names given. */
export function readPairs(
  frame: DataFrame | undefined,
  labelName: string,
  valueNames: string[],
): Array<{ label: string; values: number[] }> {
  if (!frame) return [];
  const label = findField(frame, labelName, FieldType.string);
  const numbers = valueNames.map((name) => findField(frame, name, FieldType.number));
  if (!label || numbers.some((field) => !field)) return [];
  return Array.from({ length: frame.length }, (_, i) => ({
    label: String(label.values[i]),
    values: numbers.map((field) => Number(field!.values[i] ?? 0)),
  }));
}

export interface SeriesPoint {
  time: number;
  jail: string;
  bans: number;
}

export function readSeries(frame: DataFrame | undefined): SeriesPoint[] {
  if (!frame) return [];
  const time = findField(frame, 'time', FieldType.time);
  const jail = findField(frame, 'jail', FieldType.string);
  const bans = findField(frame, 'bans', FieldType.number);
  if (!time || !jail || !bans) return [];
  return Array.from({ length: frame.length }, (_, i) => ({
    time: Number(time.values[i]),
    jail: String(jail.values[i]),
    bans: Number(bans.values[i] ?? 0),
  }));
}
