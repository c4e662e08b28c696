/** data-testid values shared by the app page and its tests. */
export const TEST_IDS = {
  root: 'lokiban-app-root',
  datasource: 'lokiban-app-datasource',
  noDatasource: 'lokiban-app-no-datasource',
} as const;

/** Dashboards the app includes (plugin.json `includes`), by uid. */
export const DASHBOARDS = [
  {
    uid: 'lokiban-bans',
    title: 'Bans',
    description: 'Active bans, history, top offenders; unban and extend.',
  },
  {
    uid: 'lokiban-responder',
    title: 'Responder',
    description: 'The responder’s own metrics: decisions, deliveries, hosts, queues (needs Prometheus).',
  },
] as const;

export const DATASOURCE_TYPE = 'lokiban-responder-datasource';
