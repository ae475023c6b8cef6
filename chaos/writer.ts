/**
 * The other connection: keeps writing the chaos tables all through the run (across MariaDB's
 * restarts and the restores' swaps), and checks in every transaction that the table it is about
 * to change holds a content that really existed — the one its marker's generation names. Right
 * after a restore that is the restored archive's snapshot, so a restore that left anything else
 * (or a failed one that changed the table) is caught here.
 */
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { intIn, type Rng } from '../bench/prng.js';
import { digestOf, q, TABLE_NAMES, TABLES } from './tables.js';

export interface Mismatch {
  table: string;
  generation: number | null;
  found: string;
  expected: string | undefined;
  where: string;
  at: number;
}

export async function openSession(port: number, database: string): Promise<Connection> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database, charset: 'UTF8MB4_GENERAL_CI', connectTimeout: 3_000 });
  conn.on('error', () => undefined); // a killed server: the next query fails and the caller reconnects
  await conn.query('SET SESSION group_concat_max_len = 1073741824');
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  return conn;
}

export class Writer {
  /** (table, generation) → the content's digest, noted before the transaction that made it commits. */
  readonly known = new Map<string, string>();
  readonly mismatches: Mismatch[] = [];
  committed = 0;
  failed = 0;
  private generation = 0;
  private nextId = Math.max(...Object.values(TABLES)) + 1;
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly port: number,
    private readonly database: string,
    private readonly rng: Rng,
  ) {}

  /** The digest the content of `table` at `generation` must have, if it ever existed. */
  expected(table: string, generation: number | null): string | undefined {
    return generation === null ? undefined : this.known.get(`${table}#${generation}`);
  }

  /** Notes the first content (generation 0) of every table. */
  async noteInitial(): Promise<void> {
    const conn = await openSession(this.port, this.database);
    try {
      for (const table of TABLE_NAMES) this.known.set(`${table}#0`, (await digestOf(conn, table)).digest);
    } finally {
      await conn.end();
    }
  }

  start(pauseMs: number): void {
    this.running = true;
    this.loop = this.run(pauseMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Checks each table once more (no change), as the last look at the live tables. */
  async checkAll(): Promise<void> {
    const conn = await openSession(this.port, this.database);
    try {
      for (const table of TABLE_NAMES) await this.check(conn, table, 'the live table at the end');
    } finally {
      await conn.end();
    }
  }

  private async check(conn: Connection, table: string, where: string): Promise<void> {
    const found = await digestOf(conn, table);
    const expected = this.expected(table, found.generation);
    if (found.digest !== expected) this.mismatches.push({ table, generation: found.generation, found: found.digest, expected, where, at: Date.now() });
  }

  private async run(pauseMs: number): Promise<void> {
    let conn: Connection | null = null;
    let turn = 0;
    while (this.running) {
      const table = TABLE_NAMES[turn++ % TABLE_NAMES.length]!;
      try {
        conn ??= await openSession(this.port, this.database);
        await this.transaction(conn, table);
        this.committed++;
      } catch {
        this.failed++;
        conn?.destroy();
        conn = null;
        await sleep(300);
      }
      await sleep(pauseMs);
    }
    await conn?.end().catch(() => undefined);
  }

  private async transaction(conn: Connection, table: string): Promise<void> {
    const t = q(table);
    await conn.query('BEGIN');
    try {
      // The marker's row lock first: the content cannot change under the check (a restore's
      // RENAME waits for this transaction's metadata lock).
      await conn.query<RowDataPacket[]>(`SELECT v FROM ${t} WHERE id = 0 FOR UPDATE`);
      await this.check(conn, table, 'the live table before a write');
      const rng = this.rng;
      const top = this.nextId;
      for (let i = intIn(rng, 1, 5); i > 0; i--) {
        await conn.query(`UPDATE ${t} SET v = v + 1, s = ?, b = ? WHERE id = ?`, [
          rng() < 0.1 ? null : `upd ${this.generation} ${rng().toString(36)} \u00fc`,
          rng() < 0.1 ? null : Buffer.from(rng().toString(16)),
          intIn(rng, 1, top),
        ]);
      }
      for (let i = intIn(rng, 0, 2); i > 0; i--) {
        await conn.query(`INSERT INTO ${t} VALUES (?, 1, ?, ?, ?)`, [this.nextId++, `new ${rng().toString(36)}`, Buffer.from([intIn(rng, 0, 255)]), (rng() * 1e6).toFixed(6)]);
      }
      for (let i = intIn(rng, 0, 2); i > 0; i--) await conn.query(`DELETE FROM ${t} WHERE id = ?`, [intIn(rng, 1, top)]);
      const generation = ++this.generation;
      await conn.query(`UPDATE ${t} SET v = ? WHERE id = 0`, [generation]);
      this.known.set(`${table}#${generation}`, (await digestOf(conn, table)).digest);
      await conn.query('COMMIT');
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
