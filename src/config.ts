import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface MysqlSettings {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
}

export interface Config {
  natsServers: string[];
  mysql: MysqlSettings;
  backupDir: string;
  subjectPrefix: string;
  queueGroup: string;
  jobsStream: string;
  objectBucket: string;
  logLevel: string;
  sevenZipLevel: number;
  dumpParallelism: number;
  restoreParallelism: number;
  maxParallelJobs: number;
  jobAckWaitMs: number;
  jobMaxDeliver: number;
  shutdownGraceMs: number;
  jsReplicas: number;
  jobStateBucket: string;
  jobStateTtlMs: number;
  /** Retention: keep at most this many archives (null: off). */
  keepLast: number | null;
  /** Retention: remove archives older than this (null: off). */
  maxAgeMs: number | null;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
// NATS subject tokens: no wildcards, whitespace or empty tokens.
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const NAME = /^[A-Za-z0-9_-]+$/;

export function loadConfig(env: Env = process.env): Config {
  const errors: string[] = [];
  const text = (key: string, fallback: string): string => {
    const value = env[key];
    return value === undefined || value.trim() === '' ? fallback : value.trim();
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const raw = text(key, String(fallback));
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      errors.push(`${key} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return Number(raw);
  };
  const matching = (key: string, fallback: string, pattern: RegExp, what: string): string => {
    const value = text(key, fallback);
    if (!pattern.test(value)) errors.push(`${key} must be ${what}, got "${value}"`);
    return value;
  };

  const natsServers = text('NATS_URL', 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const server of natsServers) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+\/?$/.test(server) && !/^[^\s/:]+:\d+$/.test(server)) {
      errors.push(`NATS_URL has an invalid server "${server}" (expected nats://host:port)`);
    }
  }

  const mysql = parseMysqlUrl(text('MYSQL_URL', 'mysql://root@127.0.0.1:3306/test'), errors);
  const passwordFile = env.MYSQL_PASSWORD_FILE?.trim();
  if (env.MYSQL_PASSWORD !== undefined && env.MYSQL_PASSWORD !== '') {
    mysql.password = env.MYSQL_PASSWORD;
  } else if (passwordFile) {
    try {
      mysql.password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      errors.push(`MYSQL_PASSWORD_FILE cannot be read: ${(err as Error).message}`);
    }
  }

  const keepLastText = text('KEEP_LAST', '');
  const keepLast = keepLastText === '' ? null : integer('KEEP_LAST', 0, 1, 1_000_000);
  const maxAgeText = text('MAX_AGE', '');
  const maxAge = /^(\d+)(m|h|d)$/.exec(maxAgeText);
  if (maxAgeText !== '' && (!maxAge || Number(maxAge[1]) === 0)) errors.push(`MAX_AGE must be a duration like 90m, 36h or 30d, got "${maxAgeText}"`);
  const maxAgeMs = maxAge ? Number(maxAge[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[maxAge[2] as 'm' | 'h' | 'd'] : null;

  const logLevel = text('LOG_LEVEL', 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) errors.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const config: Config = {
    natsServers,
    mysql,
    backupDir: resolve(text('BACKUP_DIR', './backups')),
    subjectPrefix: matching('SUBJECT_PREFIX', 'backup', SUBJECT_PREFIX, 'a NATS subject without wildcards'),
    queueGroup: matching('QUEUE_GROUP', 'workers', NAME, 'letters, digits, "_" or "-"'),
    jobsStream: matching('JOBS_STREAM', 'BACKUP_JOBS', NAME, 'a stream name of letters, digits, "_" or "-"'),
    objectBucket: matching('OBJECT_BUCKET', 'backups', NAME, 'a bucket name of letters, digits, "_" or "-"'),
    logLevel,
    sevenZipLevel: integer('SEVENZIP_LEVEL', 1, 0, 9),
    dumpParallelism: integer('DUMP_PARALLELISM', 2, 1, 64),
    restoreParallelism: integer('RESTORE_PARALLELISM', 2, 1, 64),
    maxParallelJobs: integer('MAX_PARALLEL_JOBS', 2, 1, 64),
    jobAckWaitMs: integer('JOB_ACK_WAIT_SECONDS', 30, 5, 3600) * 1000,
    jobMaxDeliver: integer('JOB_MAX_DELIVER', 5, 1, 100),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_SECONDS', 30, 0, 3600) * 1000,
    jsReplicas: integer('JS_REPLICAS', 1, 1, 5),
    jobStateBucket: matching('JOB_STATE_BUCKET', 'backup_jobs', NAME, 'a bucket name of letters, digits, "_" or "-"'),
    jobStateTtlMs: integer('JOB_STATE_TTL_SECONDS', 7 * 24 * 3600, 60, 10 * 365 * 24 * 3600) * 1000,
    keepLast,
    maxAgeMs: maxAgeMs || null,
  };
  if (errors.length > 0) throw new ConfigError(errors.join('; '));
  return config;
}

function parseMysqlUrl(raw: string, errors: string[]): MysqlSettings {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo the value: it may hold a password.
    errors.push('MYSQL_URL is not a valid URL (expected mysql://user[:password]@host[:port]/database)');
    return { host: '127.0.0.1', port: 3306, user: 'root', password: undefined, database: 'test' };
  }
  if (url.protocol !== 'mysql:') errors.push(`MYSQL_URL must start with mysql://, got "${url.protocol}//"`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) errors.push('MYSQL_URL must name one database, as in mysql://root@127.0.0.1:3306/test');
  const port = url.port === '' ? 3306 : Number(url.port);
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port,
    user: decodeURIComponent(url.username) || 'root',
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database,
  };
}

/** The config as it may be logged: no password. */
export function describeConfig(config: Config): Record<string, unknown> {
  const { password: _password, ...mysql } = config.mysql;
  return { ...config, mysql };
}
