import { basename } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The files that take a minute or more, longest first. Started first, they run beside the many
 * short files instead of after them: on a clean checkout (no timing cache) vitest would order by
 * file size and start the 2-minute chaos run last, adding its whole length to the wall time.
 */
const SLOWEST_FIRST = ['chaos', 'schedules', 'atomic-restore', 'faults', 'durable', 'runtime', 'cli', 'permissions'];

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = SLOWEST_FIRST.indexOf(basename(file.moduleId, '.test.ts'));
      return index < 0 ? SLOWEST_FIRST.length : index;
    };
    const rest = await super.sort(files);
    return rest.map((file, order) => ({ file, order })).sort((a, b) => rank(a.file) - rank(b.file) || a.order - b.order).map(({ file }) => file);
  }
}

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
    sequence: { sequencer: SlowestFirst },
    globalSetup: ['test/setup/build-service.ts'],
    setupFiles: ['test/setup/worker-database.ts'],
    reporters: ['default'],
  },
});
