// Settings of the benchmark: everything comes from here (a few can be overridden by env).
import { join, resolve } from 'node:path';

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function scalesEnv(base: number): number[] {
  const raw = process.env['BENCH_SCALES'];
  if (raw === undefined || raw === '') return [base, base * 4];
  const scales = raw.split(',').map((part) => Number(part.trim()));
  if (scales.some((s) => !Number.isFinite(s) || s <= 0)) throw new Error(`BENCH_SCALES must be positive numbers separated by commas, got "${raw}"`);
  return scales;
}

/** 1 ≈ 300 MB of SQL dump. The 1× point defaults to 0.25, the scale of the figures in issue 11. */
const scale = numberEnv('BENCH_SCALE', 0.25);

export const config = {
  scale,
  /** The scales measured, in order: the first is the 1× point that growth is compared with. */
  scales: scalesEnv(scale),
  /** Bump when the generated data changes: the data set is rebuilt when its marker differs. */
  datasetVersion: 2,
  mysql: { host: '127.0.0.1', port: 3306, user: 'root' },
  /** Prefix of the per-scale data set databases (`bench_0_25`, `bench_1`), so each stays built. */
  databasePrefix: 'bench',
  /** Where the original pipeline and myloader restore into (dropped afterwards). */
  restoreDatabase: 'bench_restore',
  natsUrl: process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222',
  subjectPrefix: 'benchbackup',
  jobsStream: 'BENCH_JOBS',
  /** Keeps the service's object store (if it uses one) apart from a development instance's. */
  objectBucket: 'BENCH_BACKUPS',
  jobStateBucket: 'bench_jobs',
  /** The small lookup table: restored alone from the big archive, and backed up by the latency rounds. */
  smallTable: 'countries',
  /** Requests in flight at once, and rounds of them per subject. */
  inFlight: numberEnv('BENCH_IN_FLIGHT', 100),
  latencyRounds: numberEnv('BENCH_LATENCY_ROUNDS', 5),
  /** The service at 7-Zip level 5 and 7-Zip alone, the earlier issues' figures: at the first scale only. */
  skipLevel5: process.env['BENCH_SKIP_LEVEL5'] === '1',
  outDir: resolve('bench/out'),
  /** Skip the service part (it also is skipped when src/main.ts does not exist). */
  skipService: process.env['BENCH_SKIP_SERVICE'] === '1',
  /** Reuse bench/out/pipeline.json when it was measured on the same data set (saves minutes). */
  reusePipeline: process.env['BENCH_REUSE_PIPELINE'] === '1',
  /** Runs of each timed backup and restore (service, mydumper + 7za, myloader); the median counts. */
  repeats: numberEnv('BENCH_REPEATS', 3),
  /** Time limits for the service's jobs. */
  jobTimeoutMs: numberEnv('BENCH_JOB_TIMEOUT_S', 1800) * 1000,
} as const;

/** Host, port and user for the command-line clients (mariadb, mariadb-dump, mydumper, myloader). */
export const clientArgs: readonly string[] = ['-h', config.mysql.host, '-P', String(config.mysql.port), '-u', config.mysql.user];

export const mysqlUrl = (database: string): string =>
  `mysql://${config.mysql.user}@${config.mysql.host}:${config.mysql.port}/${database}`;

/** Version string stored in the data set's marker: data generator version plus scale. */
const datasetTag = (scale: number): string => `v${config.datasetVersion} scale=${scale}`;

/** The data set database of one scale: `bench_0_25` for 0.25. */
const databaseOf = (scale: number): string => `${config.databasePrefix}_${String(scale).replace(/[^0-9]/g, '_')}`;

/** One measured scale: its data set's database and marker tag, and its output directory. */
export interface Scale {
  factor: number;
  database: string;
  tag: string;
  outDir: string;
}

export const scaleOf = (factor: number): Scale => ({
  factor,
  database: databaseOf(factor),
  tag: datasetTag(factor),
  outDir: join(config.outDir, `scale-${factor}`),
});
