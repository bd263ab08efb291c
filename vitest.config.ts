import { defineConfig } from 'vitest/config';

// Integration tests start real PostgreSQL clusters; on a 2-core machine two files at a time is the
// most that keeps timings honest.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    setupFiles: ['test/helpers/setup.ts'],
  },
});
