/**
 * Runs the @grafana/plugin-e2e specs (e2e/) against the Grafana at GRAFANA_URL. They need a real
 * Grafana with the app installed, which the test machine does not have: without GRAFANA_URL this
 * prints that they were not run and exits 0, and nothing counts them as passed. They are outside
 * the vitest suite, whose every test must run.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PLUGIN_ROOT, REPO_ROOT } from './layout';

if (!process.env.GRAFANA_URL) {
  console.log('e2e: not run: no Grafana server (set GRAFANA_URL to run e2e/*.spec.ts against one)');
  process.exit(0);
}
const result = spawnSync(
  process.execPath,
  [
    join(REPO_ROOT, 'node_modules', '@playwright', 'test', 'cli.js'),
    'test',
    '-c',
    'e2e/playwright.config.ts',
  ],
  { cwd: PLUGIN_ROOT, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
