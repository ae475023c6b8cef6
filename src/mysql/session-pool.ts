import mysql from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import { connectionOptions, type Connection } from './connection.js';

/** Sessions kept for the request paths' quick checks: enough for a burst (more requests wait for one). */
const POOL_SIZE = 4;

/**
 * A few reusable sessions for what a request asks MySQL before it is queued (do the tables exist,
 * may the user write the target database): a new connection per request cost 120 ms for 50
 * requests at once, about as much as everything else a makebackup does under load. mysql2's pool
 * drops a session that fails; one the server closed while it sat idle is replaced once.
 */
export class SessionPool {
  private pool: Promise<mysql.Pool> | undefined;
  /** When a session last went away (the server closed it, or it failed); 0: never. */
  private lostAt = 0;

  constructor(private readonly settings: MysqlSettings) {}

  async use<T>(work: (conn: Connection) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const conn = await (await this.open()).getConnection();
      try {
        const result = await work(conn);
        conn.release();
        return result;
      } catch (err) {
        conn.destroy();
        if (attempt === 1 && (err as { fatal?: boolean }).fatal === true) continue;
        throw err;
      }
    }
  }

  /** Whether a session went away at `time` or later: MySQL may be gone since. */
  lostSince(time: number): boolean {
    return this.lostAt >= time;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await (await pool?.catch(() => undefined))?.end().catch(() => undefined);
  }

  private open(): Promise<mysql.Pool> {
    this.pool ??= connectionOptions(this.settings).then((options) => {
      const pool = mysql.createPool({ ...options, connectionLimit: POOL_SIZE, enableKeepAlive: true });
      pool.on('connection', (session) => {
        const lost = () => (this.lostAt = Date.now());
        session.once('end', lost);
        session.once('error', lost);
      });
      return pool;
    });
    // TLS files are read when the pool is made: a failure to read them is tried again next time.
    this.pool.catch(() => (this.pool = undefined));
    return this.pool;
  }
}
