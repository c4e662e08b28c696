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
  sortButton: (column: string) => `lokiban-sort-${column}`,
  expires: 'lokiban-expires',
  details: 'lokiban-details',
  closeDetails: 'lokiban-close-details',
  unbanButton: 'lokiban-unban',
  extendButton: 'lokiban-extend',
  result: 'lokiban-result',
  historyChart: 'lokiban-history-chart',
  ipHistory: 'lokiban-ip-history',
  topList: (name: string) => `lokiban-top-${name}`,
} as const;

export const ROW_HEIGHT = 32;
