/** The MySQL settings from the environment: MYSQL_URL, MYSQL_PASSWORD(_FILE), MYSQL_TLS*. */
import { isIP } from 'node:net';
import type { MysqlSettings, MysqlTls } from '../config.js';
import { type Env, PEM, readablePath, secret, text } from './env.js';

export function mysqlSettingsFrom(env: Env, errors: string[]): MysqlSettings {
  const mysql = parseMysqlUrl(text(env, 'MYSQL_URL', 'mysql://root@127.0.0.1:3306/test'), errors);
  const mysqlPassword = secret(env, 'MYSQL_PASSWORD', errors);
  if (mysqlPassword !== undefined) mysql.password = mysqlPassword;
  mysql.tls = mysqlTlsFrom(env, errors);
  if (mysql.tls.mode === 'verify-identity' && isIP(mysql.host) !== 0) {
    // mysql2 sends no server name for an IP address, and Node then checks the certificate
    // against "localhost" (checked with mysql2 3.24): the IP itself is never verified.
    errors.push(`MYSQL_TLS=verify-identity needs a host name in MYSQL_URL (the one the server's certificate holds), not the IP address ${mysql.host}; or set MYSQL_TLS=verify-ca`);
  }
  return mysql;
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
