import { defineConfig } from 'vitest/config';
import { testReporters } from '../scripts/test-reporters.js';

export default defineConfig({
  // Classic JSX runtime, as in the built plugin (see scripts/build.ts).
  esbuild: { jsx: 'transform', jsxFactory: 'React.createElement', jsxFragment: 'React.Fragment' },
  test: {
    name: 'grafana-plugin',
    root: import.meta.dirname,
    environment: 'jsdom',
    // i18next (under @grafana/i18n) prints an advertisement at every start unless this is set.
    env: { I18NEXT_NO_SUPPORT_NOTICE: '1' },
    include: [
      'src/**/*.test.{ts,tsx}',
      'browser/**/*.test.ts',
      'scripts/**/*.test.ts',
      'compat/**/*.test.ts',
    ],
    globalSetup: ['./test/global-setup.ts'],
    setupFiles: ['./test/setup.ts'],
    // @grafana packages ship ESM that imports CommonJS named exports (moment-timezone): let Vite transform them.
    server: { deps: { inline: [/@grafana\//] } },
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: testReporters('grafana-plugin'),
  },
});
