import {
  type DataFrame,
  type DataQueryRequest,
  dateTime,
  LoadingState,
  type PanelData,
  type PanelProps,
  type TimeRange,
} from '@grafana/data';
import type { BansPanelOptions } from '../src/panel/types';
import { DEFAULT_OPTIONS } from '../src/panel/types';
import type { ApiBan, ApiStats } from '../src/shared/api-types';
import { bansToFrame, statsToFrames } from '../src/shared/frames';

/** Test data factories shared by every component test; times are relative to `now`. */
export const NOW = Date.parse('2026-11-27T08:00:00.000Z');

export function apiBan(overrides: Partial<ApiBan> = {}): ApiBan {
  const id = overrides.id ?? 1;
  return {
    id,
    ip: `203.0.113.${id % 250}`,
    jail: 'sshd',
    level: 0,
    createdAt: new Date(NOW - 5 * 60_000).toISOString(),
    updatedAt: new Date(NOW - 5 * 60_000).toISOString(),
    expiresAt: new Date(NOW + 55 * 60_000).toISOString(),
    liftedAt: null,
    liftedBy: null,
    offences: 1,
    source: 'alertmanager',
    summary: `5 failed SSH logins on web1`,
    sample: 'Failed password for root from 203.0.113.7 port 4242 ssh2',
    hosts: [
      {
        host: 'web1',
        desired: 'present',
        state: 'applied',
        attempts: 1,
        lastError: null,
        appliedAt: NOW - 1000,
      },
    ],
    ...overrides,
  };
}

export function manyBans(count: number): ApiBan[] {
  const jails = ['sshd', 'nginx-http-auth', 'postfix-sasl', 'nginx-botsearch'];
  return Array.from({ length: count }, (_, i) =>
    apiBan({
      id: i + 1,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      jail: jails[i % jails.length],
      level: i % 5,
      expiresAt: i % 97 === 0 ? null : new Date(NOW + ((i * 7919) % 86_400) * 1000).toISOString(),
    }),
  );
}

export function apiStats(overrides: Partial<ApiStats> = {}): ApiStats {
  return {
    series: [
      { time: new Date(NOW - 2 * 3_600_000).toISOString(), jail: 'sshd', bans: 4 },
      { time: new Date(NOW - 2 * 3_600_000).toISOString(), jail: 'nginx-http-auth', bans: 1 },
      { time: new Date(NOW - 3_600_000).toISOString(), jail: 'sshd', bans: 7 },
    ],
    topIps: [
      { ip: '203.0.113.7', bans: 3, lastBanAt: new Date(NOW - 60_000).toISOString() },
      { ip: '198.51.100.4', bans: 1, lastBanAt: new Date(NOW - 120_000).toISOString() },
    ],
    topPrefixes: [
      { prefix: '203.0.113.0/24', bans: 5 },
      { prefix: '2001:db8::/64', bans: 2 },
    ],
    perJail: [
      { jail: 'sshd', bans: 11, active: 2 },
      { jail: 'nginx-http-auth', bans: 1, active: 0 },
    ],
    perHost: [{ host: 'web1', bans: 12, active: 2 }],
    ...overrides,
  };
}

export function timeRange(): TimeRange {
  const from = dateTime(NOW - 6 * 3_600_000);
  const to = dateTime(NOW);
  return { from, to, raw: { from: 'now-6h', to: 'now' } };
}

export function panelData(series: DataFrame[], overrides: Partial<PanelData> = {}): PanelData {
  return {
    state: LoadingState.Done,
    series,
    timeRange: timeRange(),
    request: {
      targets: [{ refId: 'A', datasource: { uid: 'lokiban', type: 'lokiban-responder-datasource' } }],
    } as unknown as DataQueryRequest,
    ...overrides,
  };
}

export function overviewFrames(bans: ApiBan[] = [apiBan()], stats: ApiStats = apiStats()): DataFrame[] {
  return [bansToFrame(bans, 'A'), ...statsToFrames(stats, 'A')];
}

export function panelProps(
  data: PanelData,
  options: Partial<BansPanelOptions> = {},
  size: { width: number; height: number } = { width: 1000, height: 500 },
): PanelProps<BansPanelOptions> {
  return {
    id: 1,
    data,
    timeRange: data.timeRange,
    timeZone: 'utc',
    options: { ...DEFAULT_OPTIONS, ...options },
    transparent: false,
    width: size.width,
    height: size.height,
    fieldConfig: { defaults: {}, overrides: [] },
    renderCounter: 0,
    title: 'Bans',
    eventBus: { publish: () => {}, subscribe: () => ({ unsubscribe: () => {} }) } as never,
    onOptionsChange: () => {},
    onFieldConfigChange: () => {},
    replaceVariables: (value: string) => value,
    onChangeTimeRange: () => {},
  } as PanelProps<BansPanelOptions>;
}
