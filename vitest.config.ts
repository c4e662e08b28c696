import { defineConfig } from 'vitest/config';
import { testReporters } from './scripts/test-reporters.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Responder logs go to files, not into the test output; a failed test prints its own.
    setupFiles: ['./test/support/capture-logs.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: testReporters('responder'),
  },
});
