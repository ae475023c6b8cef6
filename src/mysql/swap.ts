/**
 * The DDL of an atomic restore: tables are loaded into a scratch schema, then ONE `RENAME TABLE`
 * moves the live tables aside (same schema, so their triggers go with them) and the loaded ones
 * in. What cannot cross schemas or clash by name is handled around that statement:
 *
 * - triggers are not created in the scratch schema; they are created on the live tables right
 *   after the swap (a trigger name is unique per schema, and the old table holds it until dropped);
 * - foreign keys are dropped from the loaded tables before the swap (their names are unique per
 *   schema too, and a reference to the scratch schema must point to the live one) and added back
 *   after it; foreign keys of other tables that pointed to a replaced table followed it when it was
 *   renamed aside (InnoDB renames references), so they are pointed back to the new table.
 *
 * All of that after-swap work is written to a plan table in the scratch schema BEFORE the swap, so
 * a process that dies half-way is finished by the retried job or at the next start.
 *
 * A restore into another database or under another name (`<p>.restoreinto`) swaps into that
 * database under those names: the service's own tables of the archive's names are never touched.
 * Its triggers are created on the new table (ON clause rewritten), its foreign keys point into the
 * target database (keys between tables restored together follow their new names), and a trigger or
 * constraint name that another table of the target database already uses gets a fresh one.
 */
import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import { PermanentJobError } from '../jobs/job.js';
import type { TableName } from '../names.js';
import { connect, disconnect, type Connection } from './connection.js';
import { freshName, latin1Identifier, retargetTrigger } from './retarget.js';
import { statementKind } from './statement-kind.js';
import { quoteIdentifier as q } from './sql.js';

const PLAN_TABLE = '_nmtb_plan';
const RULES = new Set(['RESTRICT', 'CASCADE', 'SET NULL', 'NO ACTION', 'SET DEFAULT']);

/** The scratch schema and set-aside names of one restore job, in one deployment. */
export interface SwapNames {
  scratch: string;
  oldName(index: number): string;
}

/**
 * `deployment` separates service deployments that share a MySQL server, so one never cleans up
 * another's work: `_nmtb_r<deployment 8 hex>_<job 32 hex>` (≤ 64 characters).
 */
export function swapNames(deployment: string, jobId: string): SwapNames {
  const tag = deploymentTag(deployment);
  const job = jobId.replace(/-/g, '').toLowerCase();
  return {
    scratch: `_nmtb_r${tag}_${job}`,
    oldName: (index) => `_nmtb_o${tag}_${job}_${index}`,
  };
}

export function deploymentTag(deployment: string): string {
  return createHash('sha256').update(deployment).digest('hex').slice(0, 8);
}

/** The job id a scratch schema of this deployment belongs to, or null for any other name. */
export function jobOfScratch(deployment: string, schema: string): string | null {
  const m = new RegExp(`^_nmtb_r${deploymentTag(deployment)}_([0-9a-f]{32})$`).exec(schema);
  if (!m) return null;
  const h = m[1] as string;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

interface ForeignKey {
  schema: string;
  table: string;
  name: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
  onUpdate: string;
  onDelete: string;
}

async function foreignKeys(conn: Connection, schema: string): Promise<ForeignKey[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT rc.TABLE_NAME AS tableName, rc.CONSTRAINT_NAME AS name, rc.UPDATE_RULE AS onUpdate, rc.DELETE_RULE AS onDelete,
            k.COLUMN_NAME AS columnName, k.REFERENCED_TABLE_SCHEMA AS refSchema, k.REFERENCED_TABLE_NAME AS refTable,
            k.REFERENCED_COLUMN_NAME AS refColumn
       FROM information_schema.REFERENTIAL_CONSTRAINTS rc
       JOIN information_schema.KEY_COLUMN_USAGE k
         ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
      WHERE rc.CONSTRAINT_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    [schema],
  );
  const keys = new Map<string, ForeignKey>();
  for (const row of rows) {
    const id = `${String(row.tableName)}\u0000${String(row.name)}`;
    let key = keys.get(id);
    if (!key) {
      key = {
        schema,
        table: String(row.tableName),
        name: String(row.name),
        columns: [],
        refSchema: String(row.refSchema),
        refTable: String(row.refTable),
        refColumns: [],
        onUpdate: String(row.onUpdate),
        onDelete: String(row.onDelete),
      };
      keys.set(id, key);
    }
    key.columns.push(String(row.columnName));
    key.refColumns.push(String(row.refColumn));
  }
  return [...keys.values()];
}

function addForeignKeySql(key: ForeignKey, refSchema: string, refTable: string): string {
  const rule = (r: string) => (RULES.has(r) ? r : 'RESTRICT');
  return (
    `CONSTRAINT ${q(key.name)} FOREIGN KEY (${key.columns.map(q).join(', ')}) ` +
    `REFERENCES ${q(refSchema)}.${q(refTable)} (${key.refColumns.map(q).join(', ')}) ` +
    `ON DELETE ${rule(key.onDelete)} ON UPDATE ${rule(key.onUpdate)}`
  );
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

/** Where a restore puts its tables: absent fields mean the service's own database and the archive's names. */
export interface SwapTarget {
  database?: string;
  /** Archive table → its name in the target database. */
  names?: ReadonlyMap<TableName, string>;
}

/** Something a swap did that the job's caller should hear of (a trigger body naming the old table). */
export type SwapWarning = string;

/**
 * Restores into `scratch`, swaps, finishes: the orchestration lives in restore.ts; this is the
 * part that talks DDL. One admin connection, foreign key checks off (the dumps load that way).
 */
export class TableSwap {
  /** Set once the RENAME went through: from then on the plan must be finished, never dropped. */
  swapped = false;
  readonly warnings: SwapWarning[] = [];

  private constructor(
    private readonly admin: Connection,
    private readonly settings: MysqlSettings,
    readonly names: SwapNames,
    private readonly tables: TableName[],
    private readonly target: SwapTarget,
  ) {}

  static async open(settings: MysqlSettings, names: SwapNames, tables: TableName[], target: SwapTarget = {}): Promise<TableSwap> {
    const admin = await connect(settings);
    await admin.query('SET SESSION FOREIGN_KEY_CHECKS = 0');
    return new TableSwap(admin, settings, names, tables, target);
  }

  async close(): Promise<void> {
    await disconnect(this.admin);
  }

  /** The database the tables are swapped into. */
  get live(): string {
    return this.target.database ?? this.settings.database;
  }

  /** Restoring elsewhere than over the archive's own tables in the service's database. */
  private get retargeted(): boolean {
    return this.target.database !== undefined || (this.target.names?.size ?? 0) > 0;
  }

  /** The name a loaded table gets in the target database. */
  nameOf(table: TableName): string {
    return this.target.names?.get(table) ?? table;
  }

  /** Finishes or removes what an earlier attempt of the same job left, then makes a fresh scratch schema. */
  async prepare(): Promise<void> {
    await recoverScratch(this.admin, this.settings, this.names.scratch);
    const [rows] = await this.admin.query<RowDataPacket[]>(
      'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [this.live],
    );
    const cs = String(rows[0]?.cs ?? 'utf8mb4');
    const co = String(rows[0]?.co ?? '');
    const charset = /^\w+$/.test(cs) ? ` CHARACTER SET ${cs}` : '';
    const collation = /^\w+$/.test(co) ? ` COLLATE ${co}` : '';
    await this.admin.query(`CREATE DATABASE ${q(this.names.scratch)}${charset}${collation}`);
    await this.admin.query(
      `CREATE TABLE ${q(this.names.scratch)}.${PLAN_TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16) NOT NULL,
         target_table VARCHAR(64) NULL, target_name VARCHAR(64) NULL, session INT NULL, statement LONGBLOB NOT NULL)`,
    );
  }

  async rowCount(table: TableName): Promise<number> {
    const [rows] = await this.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(this.names.scratch)}.${q(table)}`);
    return Number(rows[0]?.n);
  }

  /**
   * Before the swap: removes the scratch schema and everything loaded into it (the live tables
   * were never touched). After it, the scratch schema holds the rest of the plan: it stays for
   * the retried job or the next start to finish.
   */
  async abandon(): Promise<void> {
    if (!this.swapped) await this.admin.query(`DROP DATABASE IF EXISTS ${q(this.names.scratch)}`);
  }

  /**
   * Writes the after-swap plan, swaps every table in one RENAME TABLE, then runs the plan.
   * `sessions` holds, per table, the statements deferred from its dump (its session settings and
   * its triggers), as latin1 strings of the dump's bytes.
   */
  async swap(sessions: string[][]): Promise<void> {
    const { scratch } = this.names;
    const live = this.live;
    const requested = new Set<string>(this.tables);
    const newNames = new Set(this.tables.map((t) => this.nameOf(t)));
    const [liveRows] = await this.admin.query<RowDataPacket[]>(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`,
      [live],
    );
    const existing = new Set(liveRows.map((r) => String(r.name)));
    const steps: PlanStep[] = [{ kind: 'database', statement: live }];
    const liveKeys = await foreignKeys(this.admin, live);

    // Other tables' keys that point to a replaced table will follow it aside: point them back.
    for (const key of liveKeys) {
      if (newNames.has(key.table) || key.refSchema !== live || !newNames.has(key.refTable)) continue;
      // Two statements: MariaDB refuses to drop and add one name in a single ALTER.
      steps.push({ kind: 'drop-fk', target: { table: key.table, name: key.name }, statement: `ALTER TABLE ${q(live)}.${q(key.table)} DROP FOREIGN KEY ${q(key.name)}` });
      steps.push({ kind: 'add-fk', target: { table: key.table, name: key.name }, statement: `ALTER TABLE ${q(live)}.${q(key.table)} ADD ${addForeignKeySql(key, live, key.refTable)}` });
    }
    this.tables.forEach((table, index) => {
      if (existing.has(this.nameOf(table))) steps.push({ kind: 'sql', statement: `DROP TABLE IF EXISTS ${q(live)}.${q(this.names.oldName(index))}` });
    });
    // The loaded tables' own keys come off now and go back on after the swap, under names no
    // other table of the target database uses (the replaced tables' go with them).
    const takenKeys = new Set(liveKeys.filter((key) => !newNames.has(key.table)).map((key) => key.name.toLowerCase()));
    const loadedKeys = (await foreignKeys(this.admin, scratch)).filter((key) => requested.has(key.table));
    for (const key of loadedKeys) {
      const table = key.table as TableName;
      let refSchema = key.refSchema;
      let refTable = key.refTable;
      if (refSchema === scratch) {
        refSchema = live;
        if (requested.has(refTable)) refTable = this.nameOf(refTable as TableName);
        else if (this.retargeted && !existing.has(refTable)) {
          // Safer than a key to nothing or a table without its key: nothing has changed yet.
          throw new PermanentJobError(
            `${table} has foreign key ${key.name} to ${refTable}, which database ${live} does not have: restore ${refTable} with it, or create it first`,
          );
        }
      }
      const renamed = { ...key, name: freshName(key.name, table, this.nameOf(table), takenKeys) };
      steps.push({ kind: 'add-fk', target: { table: this.nameOf(table), name: renamed.name }, statement: `ALTER TABLE ${q(live)}.${q(this.nameOf(table))} ADD ${addForeignKeySql(renamed, refSchema, refTable)}` });
    }
    const takenTriggers = await this.triggerNamesOfOtherTables(newNames);
    const renamedTriggers = new Map<string, string>();
    sessions.forEach((statements, session) => {
      if (statements.length === 0) return;
      const table = this.tables[session] as TableName;
      steps.push({ kind: 'session', session, statement: `USE ${latin1Identifier(live)}` });
      for (const statement of statements) {
        steps.push({ kind: 'session', session, statement: statementKind(statement) === 'trigger' ? this.triggerFor(statement, table, takenTriggers, renamedTriggers) : statement });
      }
    });
    await this.tryTriggers(sessions);
    await this.writePlan(steps);
    for (const key of loadedKeys) await this.admin.query(`ALTER TABLE ${q(scratch)}.${q(key.table)} DROP FOREIGN KEY ${q(key.name)}`);

    const renames: string[] = [];
    this.tables.forEach((table, index) => {
      const name = this.nameOf(table);
      if (existing.has(name)) renames.push(`${q(live)}.${q(name)} TO ${q(live)}.${q(this.names.oldName(index))}`);
      renames.push(`${q(scratch)}.${q(table)} TO ${q(live)}.${q(name)}`);
    });
    await this.admin.query(`RENAME TABLE ${renames.join(', ')}`);
    this.swapped = true;
    await runPlan(this.admin, this.settings, scratch);
    await this.admin.query(`DROP DATABASE IF EXISTS ${q(scratch)}`);
    // Fresh statistics: a renamed-in table may otherwise report no rows to the optimizer (and to
    // the next backup's progress estimate) until the server gets round to sampling it.
    await this.admin.query(`ANALYZE TABLE ${this.tables.map((t) => `${q(live)}.${q(this.nameOf(t))}`).join(', ')}`).catch(() => undefined);
  }

  /**
   * Creates each table's triggers on its loaded copy and drops them again, before anything is
   * swapped: a trigger the server refuses (a DEFINER the service's user may not name, a body it
   * does not accept) then fails the job with the live tables untouched, instead of after the swap.
   */
  private async tryTriggers(sessions: string[][]): Promise<void> {
    const { scratch } = this.names;
    for (const [session, statements] of sessions.entries()) {
      if (!statements.some((statement) => statementKind(statement) === 'trigger')) continue;
      const table = this.tables[session] as TableName;
      const conn = await connect(this.settings, { rawBytes: true });
      try {
        await conn.query(`USE ${latin1Identifier(scratch)}`);
        for (const statement of statements) {
          // Only settings and triggers: anything else a dump runs after its first trigger runs once, after the swap.
          const kind = statementKind(statement);
          // Unqualified, so the trial lands on the loaded copy whatever schema the dump named.
          const trial = kind === 'trigger' ? retargetTrigger(statement, table, table, new Set(), new Map())?.statement : kind === 'set' ? statement : undefined;
          if (trial !== undefined) await conn.query(trial);
        }
      } catch (err) {
        const e = err as { sqlState?: string; message: string };
        const reason = `${table}.sql: the server refuses its triggers (nothing was changed): ${e.message.slice(0, 300)}`;
        throw typeof e.sqlState === 'string' ? new PermanentJobError(reason, { cause: err }) : new Error(reason, { cause: err });
      } finally {
        await disconnect(conn);
      }
    }
    const [rows] = await this.admin.query<RowDataPacket[]>('SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?', [scratch]);
    for (const row of rows) await this.admin.query(`DROP TRIGGER ${q(scratch)}.${q(String(row.name))}`);
  }

  /** Trigger names of the target database's tables other than those being replaced (lower case). */
  private async triggerNamesOfOtherTables(replaced: Set<string>): Promise<Set<string>> {
    const [rows] = await this.admin.query<RowDataPacket[]>(
      'SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tableName FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
      [this.live],
    );
    return new Set(rows.filter((r) => !replaced.has(String(r.tableName))).map((r) => String(r.name).toLowerCase()));
  }

  /** A dump's trigger, for the table's new name in the target database (a plain restore's is left as dumped). */
  private triggerFor(statement: string, table: TableName, taken: Set<string>, renamed: Map<string, string>): string {
    const result = retargetTrigger(statement, table, this.nameOf(table), taken, renamed);
    if (!result) {
      if (this.retargeted) throw new PermanentJobError(`${table}.sql has a trigger whose header is not understood; it cannot be moved to ${this.nameOf(table)}`);
      return statement;
    }
    if (result.bodyNamesOldTable) {
      this.warnings.push(`trigger ${result.name} on ${this.live}.${this.nameOf(table)} names ${table} in its body, which is left as written (it means ${this.live}.${table})`);
    }
    return this.retargeted ? result.statement : statement;
  }

  private async writePlan(steps: PlanStep[]): Promise<void> {
    for (const step of steps) {
      await this.admin.query(
        `INSERT INTO ${q(this.names.scratch)}.${PLAN_TABLE} (kind, target_table, target_name, session, statement) VALUES (?, ?, ?, ?, ?)`,
        [step.kind, step.target?.table ?? null, step.target?.name ?? null, step.session ?? null, Buffer.from(step.statement, step.kind === 'session' ? 'latin1' : 'utf8')],
      );
    }
  }
}

/**
 * What a scratch schema left by a dead process needs: before the swap (its tables are still
 * there), only removal; after it, the rest of its plan, then removal.
 */
export async function recoverScratch(admin: Connection, settings: MysqlSettings, scratch: string): Promise<'none' | 'removed' | 'finished'> {
  const [schemas] = await admin.query<RowDataPacket[]>('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [scratch]);
  if (schemas.length === 0) return 'none';
  const [tables] = await admin.query<RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [scratch]);
  const names = tables.map((t) => String(t.name));
  const swapped = names.includes(PLAN_TABLE) && names.length === 1 && (await planHasSteps(admin, scratch));
  if (swapped) await runPlan(admin, settings, scratch);
  await admin.query(`DROP DATABASE IF EXISTS ${q(scratch)}`);
  return swapped ? 'finished' : 'removed';
}

async function planHasSteps(admin: Connection, scratch: string): Promise<boolean> {
  const [rows] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(scratch)}.${PLAN_TABLE}`);
  return Number(rows[0]?.n) > 0;
}

/**
 * Runs the after-swap plan; every step may run again after a crash: keys already there are
 * skipped, a trigger that exists already is not an error, drops are IF EXISTS.
 */
async function runPlan(admin: Connection, settings: MysqlSettings, scratch: string): Promise<void> {
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
}

const ER_TRG_ALREADY_EXISTS = 1359;

/**
 * At start: scratch schemas of this deployment whose job is over (or unknown) are finished or
 * removed. Scratch schemas of live jobs are left to those jobs' retries.
 */
export async function recoverAbandonedRestores(
  settings: MysqlSettings,
  deployment: string,
  isLiveJob: (jobId: string) => Promise<boolean>,
): Promise<{ schema: string; outcome: string }[]> {
  const admin = await connect(settings);
  const recovered: { schema: string; outcome: string }[] = [];
  try {
    await admin.query('SET SESSION FOREIGN_KEY_CHECKS = 0');
    const [rows] = await admin.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '\\_nmtb\\_r%'");
    for (const row of rows) {
      const schema = String(row.name);
      const job = jobOfScratch(deployment, schema);
      if (!job || (await isLiveJob(job))) continue;
      recovered.push({ schema, outcome: await recoverScratch(admin, settings, schema) });
    }
  } finally {
    await disconnect(admin);
  }
  return recovered;
}
