/**
 * Where each plugin lives, in the source tree and in the built app. Grafana ships a panel, a
 * datasource and dashboards that belong together as one app plugin whose folder holds the other
 * two as nested plugins, so one archive, one signature and one catalog entry cover them all.
 */
import { join, resolve } from 'node:path';

export const PLUGIN_ROOT = resolve(import.meta.dirname, '..');
export const REPO_ROOT = resolve(PLUGIN_ROOT, '..');

export const APP_ID = 'lokiban-app';
export const PANEL_ID = 'lokiban-bans-panel';
export const DATASOURCE_ID = 'lokiban-responder-datasource';

export interface PluginLayout {
  id: string;
  /** Folder under src/ with module.ts and plugin.json. */
  source: string;
  /** Folder inside the built app, '' for the app itself. */
  nested: string;
}

export const PLUGINS: readonly PluginLayout[] = [
  { id: APP_ID, source: 'app', nested: '' },
  { id: PANEL_ID, source: 'panel', nested: 'panel' },
  { id: DATASOURCE_ID, source: 'datasource', nested: 'datasource' },
];

export const DIST = join(PLUGIN_ROOT, 'dist');
/** The folder copied into Grafana's plugin directory. */
export const APP_DIST = join(DIST, APP_ID);

export function distDir(id: string): string {
  const plugin = PLUGINS.find((candidate) => candidate.id === id);
  if (!plugin) throw new Error(`unknown plugin ${id}`);
  return join(APP_DIST, plugin.nested);
}

/** Screenshots the browser test writes, shown in the docs and on the catalog page. */
export const SCREENSHOTS_DIR = join(REPO_ROOT, 'docs', 'img');

export interface Screenshot {
  file: string;
  name: string;
}

/** Written by the browser test into docs/img; the build copies them into the app and the panel. */
export const SCREENSHOTS: readonly Screenshot[] = [
  {
    file: 'grafana-panel-active.png',
    name: 'Active bans, a ban selected: hosts, offence, logs link, history',
  },
  { file: 'grafana-panel-offenders.png', name: 'Top offenders: IPs, /24 and /64 prefixes, jails, hosts' },
  { file: 'grafana-panel-narrow.png', name: 'A narrow panel keeps the whole address and the selected ban' },
];

/** The compatibility floor: the oldest Grafana whose packages the plugins build and type-check against. */
export const COMPAT_DIR = join(PLUGIN_ROOT, 'compat');
