import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { credsAuthenticator, nkeys } from '@nats-io/transport-node';
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
  dumpParallelism: number;
  restoreParallelism: number;
  /** Sessions one table's INSERTs are spread over during a restore. */
  restoreInsertConnections: number;
  /** Secondary indexes of a restored table built after its rows. */
  restoreDeferIndexes: boolean;
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
  /** BACKUP_SCHEDULES / BACKUP_SCHEDULES_FILE (src/schedules/). */
  schedules: Schedule[];
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

  const { natsServers, natsAuth, natsTls } = natsSettingsFrom(env, errors);

  const mysql = parseMysqlUrl(text('MYSQL_URL', 'mysql://root@127.0.0.1:3306/test'), errors);
  const mysqlPassword = secret(env, 'MYSQL_PASSWORD', errors);
  if (mysqlPassword !== undefined) mysql.password = mysqlPassword;
  mysql.tls = mysqlTlsFrom(env, errors);
  if (mysql.tls.mode === 'verify-identity' && isIP(mysql.host) !== 0) {
    // mysql2 sends no server name for an IP address, and Node then checks the certificate
    // against "localhost" (checked with mysql2 3.24): the IP itself is never verified.
    errors.push(`MYSQL_TLS=verify-identity needs a host name in MYSQL_URL (the one the server's certificate holds), not the IP address ${mysql.host}; or set MYSQL_TLS=verify-ca`);
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
    dumpParallelism: integer('DUMP_PARALLELISM', 2, 1, 64),
    restoreParallelism: integer('RESTORE_PARALLELISM', 2, 1, 64),
    restoreInsertConnections: integer('RESTORE_INSERT_CONNECTIONS', 1, 1, 16),
    restoreDeferIndexes: matching('RESTORE_DEFER_INDEXES', 'on', /^(on|off)$/, '"on" or "off"') === 'on',
    maxParallelJobs: integer('MAX_PARALLEL_JOBS', 2, 1, 64),
    jobAckWaitMs: integer('JOB_ACK_WAIT_SECONDS', 30, 5, 3600) * 1000,
    jobMaxDeliver: integer('JOB_MAX_DELIVER', 5, 1, 100),
    shutdownGraceMs: integer('SHUTDOWN_GRACE_SECONDS', 30, 0, 3600) * 1000,
    jsReplicas: integer('JS_REPLICAS', 1, 1, 5),
    jobStateBucket: matching('JOB_STATE_BUCKET', 'backup_jobs', NAME, 'a bucket name of letters, digits, "_" or "-"'),
    jobStateTtlMs: integer('JOB_STATE_TTL_SECONDS', 7 * 24 * 3600, 60, 10 * 365 * 24 * 3600) * 1000,
    keepLast,
    maxAgeMs: maxAgeMs || null,
    schedules: schedulesFrom(env, errors),
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

function natsSettingsFrom(env: Env, errors: string[]): NatsSettings {
  const natsServers = (env.NATS_URL?.trim() || 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const server of natsServers) {
    if (/^[^/]*:\/\/[^/]*@/.test(server) || (!server.includes('://') && server.includes('@'))) {
      // Never echo it: the part before "@" is a secret. The NATS client ignores URL credentials anyway.
      errors.push('NATS_URL must not hold credentials (user:password@ or token@): use NATS_USER and NATS_PASSWORD(_FILE), or NATS_TOKEN(_FILE)');
    } else if (!/^(nats|tls|ws|wss):\/\/[^\s/]+\/?$/.test(server) && !/^[^\s/:]+:\d+$/.test(server)) {
      errors.push(`NATS_URL has an invalid server "${server}" (expected nats://host:port)`);
    }
  }
  return { natsServers, natsAuth: natsAuthFrom(env, errors), natsTls: natsTlsFrom(env, natsServers, errors) };
}

/** Variables whose values are secrets (the `_FILE` variants hold paths, and stay). */
export const SECRET_VARIABLES = ['MYSQL_PASSWORD', 'NATS_PASSWORD', 'NATS_TOKEN'];

/**
 * Once read, secrets leave the process environment: child processes (7-Zip) inherit it, and
 * their /proc/<pid>/environ must not hold a password. (The service's own /proc/<pid>/environ keeps
 * what it was started with: that is the launcher's business, and readable only by its user.)
 */
function forgetSecrets(env: Env): void {
  for (const key of SECRET_VARIABLES) delete env[key];
  const url = env.MYSQL_URL;
  if (url !== undefined && /^[^/]*:\/\/[^/@]*:[^/@]*@/.test(url)) delete env.MYSQL_URL;
}

function parseMysqlUrl(raw: string, errors: string[]): MysqlSettings {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo the value: it may hold a password.
    errors.push('MYSQL_URL is not a valid URL (expected mysql://user[:password]@host[:port]/database)');
    return { host: '127.0.0.1', port: 3306, user: 'root', password: undefined, database: 'test', tls: { mode: 'disabled' } };
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
    tls: { mode: 'disabled' },
  };
}

const REDACTED = '[redacted]';

/**
 * A secret from `KEY` or from the file named by `KEY_FILE` (docker secrets), one trailing newline
 * dropped. Both set is an error; an empty value counts as unset. Messages name the variable, never
 * the value.
 */
function secret(env: Env, key: string, errors: string[]): string | undefined {
  const direct = env[key];
  const file = env[`${key}_FILE`]?.trim();
  if (direct !== undefined && direct !== '' && file) {
    errors.push(`set ${key} or ${key}_FILE, not both`);
    return undefined;
  }
  if (direct !== undefined && direct !== '') return direct;
  if (!file) return undefined;
  try {
    const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (value === '') errors.push(`${key}_FILE (${file}) is empty`);
    return value === '' ? undefined : value;
  } catch (err) {
    errors.push(`${key}_FILE cannot be read: ${describeFsError(err)}`);
    return undefined;
  }
}

/** The path in `key`, checked readable (and by `check`, which gets the contents), or undefined. */
function readablePath(env: Env, key: string, errors: string[], check?: (contents: Buffer) => string | null): string | undefined {
  const path = env[key]?.trim();
  if (!path) return undefined;
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (err) {
    errors.push(`${key} cannot be read: ${describeFsError(err)}`);
    return undefined;
  }
  const problem = check?.(contents) ?? null;
  if (problem !== null) errors.push(`${key} (${path}) ${problem}`);
  return resolve(path);
}

/** An fs error as "ENOENT: no such file or directory, open '/path'": paths only, no contents. */
function describeFsError(err: unknown): string {
  return (err as Error).message;
}

function natsAuthFrom(env: Env, errors: string[]): NatsAuth {
  const user = env.NATS_USER?.trim() || undefined;
  const password = secret(env, 'NATS_PASSWORD', errors);
  const token = secret(env, 'NATS_TOKEN', errors);
  const seedFile = readablePath(env, 'NATS_NKEY_SEED_FILE', errors, (contents) => {
    try {
      const kp = nkeys.fromSeed(new TextEncoder().encode(contents.toString('utf8').trim()));
      return kp.getPublicKey().startsWith('U') ? null : 'holds an nkey seed, but not a user seed (SU…)';
    } catch {
      return 'does not hold an nkey user seed (SU…)';
    }
  });
  const credsFile = readablePath(env, 'NATS_CREDS_FILE', errors, (contents) => {
    try {
      credsAuthenticator(contents)('nonce');
      return null;
    } catch {
      return 'is not a NATS creds file (a user JWT and its nkey seed)';
    }
  });
  if (password !== undefined && user === undefined) errors.push('NATS_PASSWORD needs NATS_USER');
  if (user !== undefined && password === undefined) errors.push('NATS_USER needs NATS_PASSWORD or NATS_PASSWORD_FILE');

  const ways = [
    user !== undefined || password !== undefined ? 'NATS_USER/NATS_PASSWORD' : null,
    token !== undefined ? 'NATS_TOKEN' : null,
    env.NATS_NKEY_SEED_FILE?.trim() ? 'NATS_NKEY_SEED_FILE' : null,
    env.NATS_CREDS_FILE?.trim() ? 'NATS_CREDS_FILE' : null,
  ].filter((w): w is string => w !== null);
  if (ways.length > 1) {
    errors.push(`NATS authentication: choose one of user/password, token, nkey seed or creds file; got ${ways.join(' and ')}`);
    return { kind: 'none' };
  }
  if (user !== undefined && password !== undefined) return { kind: 'user', user, password };
  if (token !== undefined) return { kind: 'token', token };
  if (seedFile !== undefined) return { kind: 'nkey', seedFile };
  if (credsFile !== undefined) return { kind: 'creds', credsFile };
  return { kind: 'none' };
}

const PEM = (what: string) => (contents: Buffer) => (contents.toString('utf8').includes('-----BEGIN ') ? null : `is not a PEM ${what}`);

function natsTlsFrom(env: Env, servers: string[], errors: string[]): NatsTls | null {
  const caFile = readablePath(env, 'NATS_TLS_CA', errors, PEM('CA certificate'));
  const certFile = readablePath(env, 'NATS_TLS_CERT', errors, PEM('certificate'));
  const keyFile = readablePath(env, 'NATS_TLS_KEY', errors, PEM('private key'));
  if (env.NATS_TLS_CERT?.trim() && !env.NATS_TLS_KEY?.trim()) errors.push('NATS_TLS_CERT needs NATS_TLS_KEY (the client certificate\'s private key)');
  if (env.NATS_TLS_KEY?.trim() && !env.NATS_TLS_CERT?.trim()) errors.push('NATS_TLS_KEY needs NATS_TLS_CERT');
  const tls: NatsTls = {};
  if (caFile) tls.caFile = caFile;
  if (certFile) tls.certFile = certFile;
  if (keyFile) tls.keyFile = keyFile;
  // tls:// servers mean "TLS or nothing", even without files (the server's certificate is then
  // checked against Node's roots).
  return Object.keys(tls).length > 0 || servers.some((s) => s.startsWith('tls://')) ? tls : null;
}

const MYSQL_TLS_MODES: Record<string, MysqlTls['mode']> = {
  off: 'disabled',
  disabled: 'disabled',
  required: 'required',
  'verify-ca': 'verify-ca',
  'verify-identity': 'verify-identity',
};

function mysqlTlsFrom(env: Env, errors: string[]): MysqlTls {
  const caFile = readablePath(env, 'MYSQL_TLS_CA', errors, PEM('CA certificate'));
  const certFile = readablePath(env, 'MYSQL_TLS_CERT', errors, PEM('certificate'));
  const keyFile = readablePath(env, 'MYSQL_TLS_KEY', errors, PEM('private key'));
  const anyFile = [env.MYSQL_TLS_CA, env.MYSQL_TLS_CERT, env.MYSQL_TLS_KEY].some((v) => v?.trim());
  const raw = env.MYSQL_TLS?.trim().toLowerCase().replaceAll('_', '-') ?? '';
  // Unset: plain TCP, unless certificates are given; then the strictest mode.
  const mode = raw === '' ? (anyFile ? 'verify-identity' : 'disabled') : MYSQL_TLS_MODES[raw];
  if (mode === undefined) {
    errors.push(`MYSQL_TLS must be one of off, required, verify-ca, verify-identity, got "${env.MYSQL_TLS?.trim()}"`);
    return { mode: 'disabled' };
  }
  if (mode === 'disabled' && anyFile) errors.push(`MYSQL_TLS is ${raw}, but MYSQL_TLS_CA, MYSQL_TLS_CERT or MYSQL_TLS_KEY is set`);
  if (mode === 'required' && env.MYSQL_TLS_CA?.trim()) errors.push('MYSQL_TLS=required does not check the server\'s certificate: with MYSQL_TLS_CA, use verify-ca or verify-identity');
  if (env.MYSQL_TLS_CERT?.trim() && !env.MYSQL_TLS_KEY?.trim()) errors.push('MYSQL_TLS_CERT needs MYSQL_TLS_KEY (the client certificate\'s private key)');
  if (env.MYSQL_TLS_KEY?.trim() && !env.MYSQL_TLS_CERT?.trim()) errors.push('MYSQL_TLS_KEY needs MYSQL_TLS_CERT');
  const tls: MysqlTls = { mode };
  if (caFile) tls.caFile = caFile;
  if (certFile) tls.certFile = certFile;
  if (keyFile) tls.keyFile = keyFile;
  return tls;
}

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
  return { ...config, natsAuth, mysql: { ...mysql, password: password === undefined ? undefined : REDACTED } };
}
