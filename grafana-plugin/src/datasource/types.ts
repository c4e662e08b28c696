import type { DataQuery, DataSourceJsonData } from '@grafana/data';

export type QueryKind = 'overview' | 'bans' | 'stats' | 'history';

export interface LokibanQuery extends DataQuery {
  /**
   * `overview` = active bans + history aggregates: what the bans panel shows. `history` = bans over
   * time, one series per jail, for Grafana's time series panel.
   */
  kind?: QueryKind;
  /** Bans query only: false lists every ban created in the dashboard time range. */
  activeOnly?: boolean;
  jail?: string;
  limit?: number;
}

export const DEFAULT_QUERY: Partial<LokibanQuery> = { kind: 'overview', activeOnly: true, limit: 10_000 };

/** Non-secret settings. The responder URL is read by the data proxy routes in plugin.json. */
export interface LokibanOptions extends DataSourceJsonData {
  url?: string;
}

/** Stored encrypted by Grafana; only the data proxy reads them, never the browser. */
export interface LokibanSecureOptions {
  apiToken?: string;
  adminToken?: string;
}
