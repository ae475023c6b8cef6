// Builds the deterministic data set in database `bench`, unless its marker says it is already there.
import { Readable } from 'node:stream';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Scale } from './config.js';
import { checksums, connect, mismatches } from './db.js';
import type { Connection } from './db.js';
import { mulberry32, seedOf } from './prng.js';
import { rowsAt, TABLE_NAMES, TABLES } from './tables.js';
import type { TableSpec } from './tables.js';

export interface Dataset {
  tag: string;
  /** Seconds the build took; null when an existing data set was reused. */
  buildSeconds: number | null;
  checksums: Record<string, string | null>;
}

const MARKER = '_dataset';
const ROWS_PER_LOAD = 50_000;
const ROWS_PER_CHUNK = 2_000;

export async function ensureDataset(scale: Scale): Promise<Dataset> {
  const conn = await connect();
  try {
    const marker = await readMarker(conn, scale.database);
    // A run that died between changing a table and restoring it leaves the marker but not the data.
    if (marker?.tag === scale.tag) {
      const bad = mismatches(marker.checksums, await checksums(conn, scale.database, TABLE_NAMES));
      if (bad.length === 0) return { ...marker, buildSeconds: null };
      console.log(`data set: ${bad.join(', ')} differ from the marker's checksums: rebuilding`);
    }
    const started = performance.now();
    await build(conn, scale);
    const dataset = { tag: scale.tag, checksums: await checksums(conn, scale.database, TABLE_NAMES) };
    await conn.query(`CREATE TABLE \`${scale.database}\`.${MARKER} (tag VARCHAR(64) NOT NULL, checksums JSON NOT NULL)`);
    await conn.query(`INSERT INTO \`${scale.database}\`.${MARKER} VALUES (?, ?)`, [dataset.tag, JSON.stringify(dataset.checksums)]);
    return { ...dataset, buildSeconds: (performance.now() - started) / 1000 };
  } finally {
    await conn.end();
  }
}

/** Forget the data set (e.g. after a restore broke it), so the next run rebuilds it. */
export async function invalidateDataset(scale: Scale): Promise<void> {
  const conn = await connect();
  try {
    await conn.query(`DROP TABLE IF EXISTS \`${scale.database}\`.${MARKER}`);
  } finally {
    await conn.end();
  }
}

async function readMarker(conn: Connection, database: string): Promise<Omit<Dataset, 'buildSeconds'> | null> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT tag, checksums FROM \`${database}\`.${MARKER}`);
    const row = rows[0];
    if (!row) return null;
    const sums: unknown = typeof row['checksums'] === 'string' ? JSON.parse(row['checksums']) : row['checksums'];
    return { tag: String(row['tag']), checksums: sums as Record<string, string | null> };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ER_BAD_DB_ERROR' || code === 'ER_NO_SUCH_TABLE') return null;
    throw err;
  }
}

async function build(conn: Connection, scale: Scale): Promise<void> {
  const db = scale.database;
  console.log(`data set: building ${scale.tag} in database \`${db}\``);
  await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await conn.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
  await conn.query(`USE \`${db}\``);
  await conn.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
  for (const spec of TABLES) {
    const started = performance.now();
    await conn.query(spec.ddl);
    await loadTable(conn, spec, rowsAt(spec, scale.factor));
    console.log(`data set:   ${spec.name}: ${rowsAt(spec, scale.factor)} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function loadTable(conn: Connection, spec: TableSpec, rows: number): Promise<void> {
  const rng = mulberry32(seedOf(spec.name));
  for (let from = 1; from <= rows; from += ROWS_PER_LOAD) {
    const to = Math.min(rows, from + ROWS_PER_LOAD - 1);
    const [result] = await conn.query<ResultSetHeader>({
      sql: `LOAD DATA LOCAL INFILE 'generated/${spec.name}/${from}' INTO TABLE \`${spec.name}\` CHARACTER SET utf8mb4 ${spec.load}`,
      infileStreamFactory: () => Readable.from(tsv(spec, rng, from, to)),
    });
    if (result.affectedRows !== to - from + 1 || result.warningStatus > 0) {
      const [warnings] = await conn.query<RowDataPacket[]>('SHOW WARNINGS LIMIT 5');
      throw new Error(`loading ${spec.name} rows ${from}-${to}: ${result.affectedRows} rows, warnings ${JSON.stringify(warnings)}`);
    }
  }
}

function* tsv(spec: TableSpec, rng: () => number, from: number, to: number): Generator<Buffer> {
  let lines: string[] = [];
  for (let id = from; id <= to; id++) {
    lines.push(spec.row(rng, id));
    if (lines.length === ROWS_PER_CHUNK || id === to) {
      yield Buffer.from(`${lines.join('\n')}\n`);
      lines = [];
    }
  }
}
