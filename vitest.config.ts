import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Files run in parallel: each worker has its own database (test/setup/worker-database.ts), and
    // every file its own subject prefix, streams and buckets. Most of a file's time is spent
    // waiting for services, 7-Zip and MariaDB, so more workers than cores pay off.
    fileParallelism: true,
    maxWorkers: Number(process.env.TEST_WORKERS ?? 3),
    setupFiles: ['test/setup/worker-database.ts'],
    reporters: ['default'],
  },
});
