/** data-testid values shared by the components, their tests and the browser test. */
export const TEST_IDS = {
  panel: 'lokiban-panel',
  loading: 'lokiban-loading',
  empty: 'lokiban-empty',
  error: 'lokiban-error',
  unreachable: 'lokiban-unreachable',
  tabActive: 'lokiban-tab-active',
  tabHistory: 'lokiban-tab-history',
  tabOffenders: 'lokiban-tab-offenders',
  filter: 'lokiban-filter',
  count: 'lokiban-count',
  table: 'lokiban-table',
  tableBody: 'lokiban-table-body',
  row: 'lokiban-row',
  ip: 'lokiban-ip',
  offence: 'lokiban-offence',
  state: 'lokiban-state',
  logsLink: 'lokiban-logs-link',
  sortButton: (column: string) => `lokiban-sort-${column}`,
  expires: 'lokiban-expires',
  details: 'lokiban-details',
  detailsHosts: 'lokiban-details-hosts',
  closeDetails: 'lokiban-close-details',
  unbanButton: 'lokiban-unban',
  extendButton: 'lokiban-extend',
  result: 'lokiban-result',
  historyChart: 'lokiban-history-chart',
  ipHistory: 'lokiban-ip-history',
  topList: (name: string) => `lokiban-top-${name}`,
  topBar: 'lokiban-top-bar',
  topLabel: 'lokiban-top-label',
} as const;

/** Row heights of the bans table: one line when wide, two (address, then jail and expiry) when narrow. */
export const ROW_HEIGHT = 32;
export const NARROW_ROW_HEIGHT = 48;
/** Below this width the table switches to two-line rows, so the whole address always fits. */
export const NARROW_WIDTH = 560;
/** From this width the details open beside the table instead of below it. */
export const SIDE_DETAILS_WIDTH = 900;
