import { resolve } from 'node:path';
import type { CompressionMethod } from './archive/writer.js';
import { archivePasswordsFrom } from './config/archive-passwords.js';
import { type Env, forgetSecrets, text as envText } from './config/env.js';
import { mysqlSettingsFrom } from './config/mysql.js';
import { natsSettingsFrom } from './config/nats.js';
import { schedulesFrom, type Schedule } from './schedules/config.js';

/**
 * TLS to MySQL, with the meanings of the mysql client's `--ssl-mode`: `disabled` (plain TCP),
 * `required` (encrypted, the server's certificate not checked), `verify-ca` (its certificate must
 * chain to `ca`, or to Node's roots), `verify-identity` (and name the host of MYSQL_URL).
 * Files are paths; connection.ts reads them on each connect, so nothing secret sits in the config.
 */
export interface MysqlTls {
  mode: 'disabled' | 'required' | 'verify-ca' | 'verify-identity';
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface MysqlSettings {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** Absent: plain TCP (as `disabled`). */
  tls?: MysqlTls;
}

/** How the service proves who it is to NATS: one way at most. Files are read at each (re)connect. */
export type NatsAuth =
  | { kind: 'none' }
  | { kind: 'user'; user: string; password: string }
  | { kind: 'token'; token: string }
  | { kind: 'nkey'; seedFile: string }
  | { kind: 'creds'; credsFile: string };

/** TLS to NATS: null = the client's default (TLS only when the server requires or offers it). */
export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface Config {
  natsServers: string[];
  natsAuth: NatsAuth;
  natsTls: NatsTls | null;
  mysql: MysqlSettings;
  backupDir: string;
  subjectPrefix: string;
  queueGroup: string;
  jobsStream: string;
  objectBucket: string;
  logLevel: string;
  sevenZipLevel: number;
  sevenZipMethod: CompressionMethod;
  dumpParallelism: number;
  /** A table streams into 7-Zip once its dump is past this size (a smaller one spools). */
  dumpStreamMinBytes: number;
  restoreParallelism: number;
  /** Sessions one table's INSERTs are spread over during a restore. */
  restoreInsertConnections: number;
  /** Secondary indexes of a restored table built after its rows. */
  restoreDeferIndexes: boolean;
  /** The rows of the service's own dumps loaded with LOAD DATA LOCAL INFILE where the server allows it. */
  restoreLoadData: boolean;
  /** A verify job queued after each backup: off, shallow or deep (VERIFY_AFTER_BACKUP). */
  verifyAfterBackup: 'off' | 'shallow' | 'deep';
  maxParallelJobs: number;
  jobPullMs: number;
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
  /** BACKUP_SCHEDULES / BACKUP_SCHEDULES_FILE (src/schedules/). */
  schedules: Schedule[];
  /** New archives are encrypted with the first, archives are opened with each in turn; empty: none. */
  archivePasswords: string[];
}

export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
// NATS subject tokens: no wildcards, whitespace or empty tokens.
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const NAME = /^[A-Za-z0-9_-]+$/;

export function loadConfig(env: Env = process.env): Config {
  const errors: string[] = [];
  const text = (key: string, fallback: string): string => envText(env, key, fallback);
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

  const { natsServers, natsAuth, natsTls } = natsSettingsFrom(env, errors);

  const mysql = mysqlSettingsFrom(env, errors);

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
    natsAuth,
    natsTls,
    mysql,
    backupDir: resolve(text('BACKUP_DIR', './backups')),
    subjectPrefix: matching('SUBJECT_PREFIX', 'backup', SUBJECT_PREFIX, 'a NATS subject without wildcards'),
    queueGroup: matching('QUEUE_GROUP', 'workers', NAME, 'letters, digits, "_" or "-"'),
    jobsStream: matching('JOBS_STREAM', 'BACKUP_JOBS', NAME, 'a stream name of letters, digits, "_" or "-"'),
    objectBucket: matching('OBJECT_BUCKET', 'backups', NAME, 'a bucket name of letters, digits, "_" or "-"'),
    logLevel,
    sevenZipLevel: integer('SEVENZIP_LEVEL', 1, 0, 9),
    sevenZipMethod: matching('SEVENZIP_METHOD', 'lzma2', /^(lzma2|deflate)$/, '"lzma2" or "deflate"') as CompressionMethod,
    dumpParallelism: integer('DUMP_PARALLELISM', 2, 1, 64),
    dumpStreamMinBytes: integer('DUMP_STREAM_MIN_MB', 8, 0, 256) * 1024 * 1024,
    restoreParallelism: integer('RESTORE_PARALLELISM', 2, 1, 64),
    restoreInsertConnections: integer('RESTORE_INSERT_CONNECTIONS', 1, 1, 16),
    restoreDeferIndexes: matching('RESTORE_DEFER_INDEXES', 'on', /^(on|off)$/, '"on" or "off"') === 'on',
    restoreLoadData: matching('RESTORE_LOAD_DATA', 'on', /^(on|off)$/, '"on" or "off"') === 'on',
    verifyAfterBackup: matching('VERIFY_AFTER_BACKUP', 'off', /^(off|shallow|deep)$/, '"off", "shallow" or "deep"') as Config['verifyAfterBackup'],
    maxParallelJobs: integer('MAX_PARALLEL_JOBS', 2, 1, 64),
    jobPullMs: integer('JOB_PULL_SECONDS', 5, 1, 60) * 1000,
    jobAckWaitMs: integer('JOB_ACK_WAIT_SECONDS', 30, 5, 3600) * 1000,
    jobMaxDeliver: integer('JOB_MAX_DELIVER', 5, 1, 100),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_SECONDS', 30, 0, 3600) * 1000,
    jsReplicas: integer('JS_REPLICAS', 1, 1, 5),
    jobStateBucket: matching('JOB_STATE_BUCKET', 'backup_jobs', NAME, 'a bucket name of letters, digits, "_" or "-"'),
    jobStateTtlMs: integer('JOB_STATE_TTL_SECONDS', 7 * 24 * 3600, 60, 10 * 365 * 24 * 3600) * 1000,
    keepLast,
    maxAgeMs: maxAgeMs || null,
    schedules: schedulesFrom(env, errors),
    archivePasswords: archivePasswordsFrom(env, errors),
  };
  if (errors.length > 0) throw new ConfigError(errors.join('; '));
  if (env === process.env) forgetSecrets(env);
  return config;
}

export type NatsSettings = Pick<Config, 'natsServers' | 'natsAuth' | 'natsTls'>;

/** What a NATS client of the service (the CLI) needs: the connection, the subjects, the bucket; no MySQL. */
export interface ClientConfig extends NatsSettings {
  subjectPrefix: string;
  objectBucket: string;
}

export function loadClientConfig(env: Env = process.env): ClientConfig {
  const errors: string[] = [];
  const nats = natsSettingsFrom(env, errors);
  const subjectPrefix = env.SUBJECT_PREFIX?.trim() || 'backup';
  if (!SUBJECT_PREFIX.test(subjectPrefix)) errors.push(`SUBJECT_PREFIX must be a NATS subject without wildcards, got "${subjectPrefix}"`);
  const objectBucket = env.OBJECT_BUCKET?.trim() || 'backups';
  if (!NAME.test(objectBucket)) errors.push(`OBJECT_BUCKET must be a bucket name of letters, digits, "_" or "-", got "${objectBucket}"`);
  if (errors.length > 0) throw new ConfigError(errors.join('; '));
  return { ...nats, subjectPrefix, objectBucket };
}

const REDACTED = '[redacted]';

/**
 * The config as it may be logged: every secret replaced by "[redacted]" (so one sees that it is
 * set), file paths kept. Secret files are named, never read into it.
 */
export function describeConfig(config: Config): Record<string, unknown> {
  const { password, ...mysql } = config.mysql;
  const auth = config.natsAuth;
  const natsAuth =
    auth.kind === 'user' ? { kind: auth.kind, user: auth.user, password: REDACTED }
    : auth.kind === 'token' ? { kind: auth.kind, token: REDACTED }
    : auth;
  return {
    ...config,
    natsAuth,
    mysql: { ...mysql, password: password === undefined ? undefined : REDACTED },
    archivePasswords: config.archivePasswords.map(() => REDACTED),
  };
}
