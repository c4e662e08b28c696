import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { PluginOptions } from '@grafana/plugin-e2e';
import { defineConfig } from '@playwright/test';

/**
 * @grafana/plugin-e2e specs against a real Grafana with the app installed (GRAFANA_URL, e.g. a
 * `grafana/grafana` container with dist/lokiban-app in its plugin directory and provisioning/ mounted).
 * Run through scripts/e2e.ts, which says so plainly when there is no Grafana to run against.
 */
const pluginE2e = dirname(createRequire(import.meta.url).resolve('@grafana/plugin-e2e'));

export default defineConfig<PluginOptions>({
  testDir: '.',
  outputDir: join(import.meta.dirname, '..', 'test-results', 'e2e'),
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: process.env.GRAFANA_URL,
    provisioningRootDir: join(import.meta.dirname, '..', 'provisioning'),
    grafanaAPICredentials: {
      user: process.env.GRAFANA_ADMIN_USER ?? 'admin',
      password: process.env.GRAFANA_ADMIN_PASSWORD ?? 'admin',
    },
    // Debian's Chromium: no browser download.
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] },
    trace: 'retain-on-failure',
  },
  projects: [
    { name: 'auth', testDir: join(pluginE2e, 'auth'), testMatch: [/.*\.js/] },
    {
      name: 'chromium',
      testMatch: /.*\.spec\.ts/,
      use: { storageState: 'playwright/.auth/admin.json' },
      dependencies: ['auth'],
    },
  ],
});
