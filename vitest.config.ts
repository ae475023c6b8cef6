import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The tests share one MariaDB database and one nats-server: files run one at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
