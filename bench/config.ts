// Settings of the benchmark: everything comes from here (a few can be overridden by env).
import { resolve } from 'node:path';

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export const config = {
  /** 1 ≈ 300 MB of SQL dump; 0.1 for a quick run. */
  scale: numberEnv('BENCH_SCALE', 1),
  /** Bump when the generated data changes: the data set is rebuilt when its marker differs. */
  datasetVersion: 2,
  mysql: { host: '127.0.0.1', port: 3306, user: 'root' },
  database: 'bench',
  restoreDatabase: 'bench_restore',
  natsUrl: process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222',
  subjectPrefix: 'benchbackup',
  jobsStream: 'BENCH_JOBS',
  /** Keeps the service's object store (if it uses one) apart from a development instance's. */
  objectBucket: 'BENCH_BACKUPS',
  outDir: resolve('bench/out'),
  /** Skip the service part (it also is skipped when src/main.ts does not exist). */
  skipService: process.env['BENCH_SKIP_SERVICE'] === '1',
  /** Reuse bench/out/pipeline.json when it was measured on the same data set (saves minutes). */
  reusePipeline: process.env['BENCH_REUSE_PIPELINE'] === '1',
  /** Time limits for the service's jobs. */
  jobTimeoutMs: numberEnv('BENCH_JOB_TIMEOUT_S', 1800) * 1000,
} as const;

export const mysqlUrl = (database: string): string =>
  `mysql://${config.mysql.user}@${config.mysql.host}:${config.mysql.port}/${database}`;

/** Version string stored in the data set's marker: data generator version plus scale. */
export const datasetTag = (): string => `v${config.datasetVersion} scale=${config.scale}`;
