export type PanelTab = 'active' | 'history' | 'offenders';

export interface BansPanelOptions {
  /** Tab shown when the panel loads. */
  defaultTab: PanelTab;
  /** Show the History and Offenders tabs (needs the Overview or Stats query). */
  showHistory: boolean;
  /** Rows in the top IPs / prefixes / jails / hosts lists. */
  topLimit: number;
  /** Offer unban and extend to Editors and Admins. */
  allowActions: boolean;
  /** Durations offered by Extend, comma-separated, e.g. `1h, 1d, 1w, -1` (-1 = permanent). */
  extendDurations: string;
  /** Optional extra link for an IP, `${ip}` is replaced (URL-encoded), e.g. a threat-intel lookup. */
  ipLink: string;
  /** The Loki datasource (uid or name, may be a dashboard variable) that the logs link opens; '' = the first. */
  logsDatasource: string;
  /** Stream selector for the logs link when the responder does not publish the jail's query; `${jail}` is replaced. */
  logsSelector: string;
}

export const DEFAULT_OPTIONS: BansPanelOptions = {
  defaultTab: 'active',
  showHistory: true,
  topLimit: 10,
  allowActions: true,
  extendDurations: '1h, 1d, 1w, -1',
  ipLink: '',
  logsDatasource: '',
  logsSelector: '{job=~".+"}',
};
