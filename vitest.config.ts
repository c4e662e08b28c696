import { defineConfig } from 'vitest/config';
import { testReporters } from './scripts/test-reporters.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: testReporters('responder'),
  },
});
