import { defineConfig } from 'vitest/config';

// Test files share one PGlite instance each and isolate by project id; a fresh
// PGlite costs seconds, so files run in parallel workers but tests in a file run in order.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
