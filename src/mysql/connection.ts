import { readFile } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import type { MysqlSettings, MysqlTls } from '../config.js';

export type Connection = mysql.Connection;

/**
 * A session whose text is utf8mb4 both ways and whose temporal values are UTC, so that dumps
 * and restores do not depend on the server's defaults. The password goes to the driver only.
 */
export interface ConnectOptions {
  typeCast?: boolean;
  /**
   * SQL text goes to the server as the bytes of a latin1-decoded string (mysql2's `binary`
   * encoding), so statements replayed from a dump keep their exact bytes; the session still
   * speaks utf8mb4, or whatever the dump's own `SET NAMES` says.
   */
  rawBytes?: boolean;
}

/**
 * mysql2's `ssl` option for the configured mode; the files are read on each connect, so renewed
 * certificates are picked up without a restart. `undefined`: plain TCP.
 */
async function sslOptions(tls: MysqlTls | undefined): Promise<mysql.SslOptions | undefined> {
  if (tls === undefined || tls.mode === 'disabled') return undefined;
  const read = (file: string | undefined) => (file === undefined ? undefined : readFile(file));
  const [ca, cert, key] = await Promise.all([read(tls.caFile), read(tls.certFile), read(tls.keyFile)]);
  const ssl: mysql.SslOptions = {
    // required: encrypted, but any certificate is accepted (as the mysql client's REQUIRED).
    rejectUnauthorized: tls.mode !== 'required',
    verifyIdentity: tls.mode === 'verify-identity',
  };
  if (ca) ssl.ca = ca;
  if (cert) ssl.cert = cert;
  if (key) ssl.key = key;
  return ssl;
}

/** The driver's options for a session of the service (a single connection or a pool's). */
export async function connectionOptions(settings: MysqlSettings, options: ConnectOptions = {}): Promise<mysql.ConnectionOptions> {
  return {
    ssl: await sslOptions(settings.tls),
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
    charset: options.rawBytes ? 'BINARY' : 'UTF8MB4_GENERAL_CI',
    // With session tracking, mysql2 follows the server's character_set_client (a dump's own
    // SET NAMES) and would encode later statements as UTF-8 again.
    flags: options.rawBytes ? ['-SESSION_TRACK'] : undefined,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
    typeCast: options.typeCast ?? true,
    connectTimeout: 10_000,
    queryFormat: formatOnlyWithValues,
  };
}

/**
 * mysql2's own formatting, skipped for a query without values: mysql2 scans every query for `?`
 * placeholders even then, and a restore's 1 MiB INSERTs spent more of Node's time in that scan
 * (sql-escaper's skipSqlContext) than in splitting the dump.
 */
function formatOnlyWithValues(sql: string, values: unknown): string {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql;
  return mysql.format(sql, values as Parameters<typeof mysql.format>[1], false, 'Z');
}

export async function connect(settings: MysqlSettings, options: ConnectOptions = {}): Promise<Connection> {
  const conn = await mysql.createConnection(await connectionOptions(settings, options));
  try {
    await conn.query("SET NAMES utf8mb4, time_zone = '+00:00'");
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
  return conn;
}

/** Closes a connection, or destroys it when the server is gone; never throws. */
export async function disconnect(conn: Connection): Promise<void> {
  try {
    await conn.end();
  } catch {
    conn.destroy();
  }
}
