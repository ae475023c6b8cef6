/**
 * The after-swap plan of an atomic restore (swap.ts): the steps are written to a table in the
 * scratch schema before the swap, and run after it, again after a crash if need be.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import { connect, disconnect, type Connection } from './connection.js';
import { LOADED_TABLE } from './scratch-loaded.js';
import { quoteIdentifier as q } from './sql.js';

const PLAN_TABLE = '_nmtb_plan';
/** The plan table once every step ran: renamed, so the mark and the plan are one table. */
const PLAN_DONE_TABLE = '_nmtb_plan_done';

/**
 * How far a restore got, read from its scratch schema: `loading` (the RENAME has not happened:
 * the loaded tables are still there), `swapped` (only the plan is left: the RENAME went through,
 * its plan may be half run), `finished` (the plan ran to its end). The scratch schema stays
 * until the job's completion is recorded, so a redelivery after a crash learns from it that the
 * tables are in already, and never swaps them in a second time.
 */
export type SwapStage = 'none' | 'loading' | 'swapped' | 'finished';

export async function swapStage(admin: Connection, scratch: string): Promise<SwapStage> {
  const [schemas] = await admin.query<RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [scratch]);
  if (schemas.length === 0) return 'none';
  const [tables] = await admin.query<RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [scratch]);
  // The record of loaded tables (scratch-loaded.ts) stays behind with the plan.
  const names = tables.map((t) => String(t.name)).filter((name) => name !== LOADED_TABLE);
  if (names.includes(PLAN_DONE_TABLE)) return 'finished';
  return names.length === 1 && names[0] === PLAN_TABLE && (await planHasSteps(admin, scratch)) ? 'swapped' : 'loading';
}

/** Marks the plan as run to its end (one rename: a crash leaves it either marked or not). */
async function markPlanFinished(admin: Connection, scratch: string): Promise<void> {
  await admin.query(`RENAME TABLE ${q(scratch)}.${PLAN_TABLE} TO ${q(scratch)}.${PLAN_DONE_TABLE}`);
}

/** One step of the after-swap plan. `session` groups statements that must share a connection. */
export interface PlanStep {
  /** `database`: the schema the plan works in (plans written before it existed: the service's own). */
  kind: 'sql' | 'drop-fk' | 'add-fk' | 'session' | 'database';
  /**
   * For drop-fk and add-fk: the table and constraint. A rerun after a crash must not drop a key
   * that was already added back, so a drop runs only when the add after it has not.
   */
  target?: { table: string; name: string };
  session?: number;
  statement: string;
}

/** The plan table in a fresh scratch schema. */
export async function createPlanTable(admin: Connection, scratch: string): Promise<void> {
  await admin.query(
    `CREATE TABLE ${q(scratch)}.${PLAN_TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16) NOT NULL,
       target_table VARCHAR(64) NULL, target_name VARCHAR(64) NULL, session INT NULL, statement LONGBLOB NOT NULL)`,
  );
}

/** Writes the after-swap plan into the scratch schema, before the swap. */
export async function writePlan(admin: Connection, scratch: string, steps: PlanStep[]): Promise<void> {
  for (const step of steps) {
    await admin.query(
      `INSERT INTO ${q(scratch)}.${PLAN_TABLE} (kind, target_table, target_name, session, statement) VALUES (?, ?, ?, ?, ?)`,
      [step.kind, step.target?.table ?? null, step.target?.name ?? null, step.session ?? null, Buffer.from(step.statement, step.kind === 'session' ? 'latin1' : 'utf8')],
    );
  }
}

export async function planHasSteps(admin: Connection, scratch: string): Promise<boolean> {
  const [rows] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(scratch)}.${PLAN_TABLE}`);
  return Number(rows[0]?.n) > 0;
}

/**
 * Runs the after-swap plan, then marks it finished; every step may run again after a crash: keys
 * already there are skipped, a trigger that exists already is not an error, drops are IF EXISTS.
 */
export async function runPlan(admin: Connection, settings: MysqlSettings, scratch: string): Promise<void> {
  await admin.query('SET SESSION FOREIGN_KEY_CHECKS = 0');
  const [rows] = await admin.query<RowDataPacket[]>(
    `SELECT kind, target_table AS targetTable, target_name AS targetName, session, statement FROM ${q(scratch)}.${PLAN_TABLE} ORDER BY id`,
  );
  const sessions = new Map<number, string[]>();
  let database = settings.database;
  for (const row of rows) {
    // A dump's statements are its bytes (run over a raw-bytes connection); the service's own are UTF-8.
    const statement = (row.statement as Buffer).toString(row.kind === 'session' ? 'latin1' : 'utf8');
    if (row.kind === 'database') {
      database = statement;
    } else if (row.kind === 'session') {
      const list = sessions.get(Number(row.session)) ?? [];
      list.push(statement);
      sessions.set(Number(row.session), list);
    } else if (row.kind === 'add-fk' || row.kind === 'drop-fk') {
      const [present] = await admin.query<RowDataPacket[]>(
        'SELECT REFERENCED_TABLE_NAME AS refTable FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = ?',
        [database, String(row.targetTable), String(row.targetName)],
      );
      // A key to drop is one that still points at a table set aside by this restore.
      const pointsAside = present.some((p) => String(p.refTable).startsWith('_nmtb_o'));
      if (row.kind === 'add-fk' ? present.length === 0 : pointsAside) await admin.query(statement);
    } else {
      await admin.query(statement);
    }
  }
  for (const statements of sessions.values()) {
    const conn = await connect(settings, { rawBytes: true });
    try {
      for (const statement of statements) {
        try {
          await conn.query(statement);
        } catch (err) {
          if ((err as { errno?: number }).errno !== ER_TRG_ALREADY_EXISTS) throw err;
        }
      }
    } finally {
      await disconnect(conn);
    }
  }
  await markPlanFinished(admin, scratch);
}

const ER_TRG_ALREADY_EXISTS = 1359;
