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
 * a process that dies half-way is finished by the retried job or at the next start. The scratch
 * schema, with its finished plan, stays until the job's completion is recorded: a redelivery of a
 * job whose process died after the swap then knows its tables are in, and does not swap again.
 *
 * A restore into another database or under another name (`<p>.restoreinto`) swaps into that
 * database under those names: the service's own tables of the archive's names are never touched.
 * Its triggers are created on the new table (ON clause rewritten), its foreign keys point into the
 * target database (keys between tables restored together follow their new names), and a trigger or
 * constraint name that another table of the target database already uses gets a fresh one.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlSettings } from '../config.js';
import { ConflictError } from '../errors.js';
import type { TableName } from '../names.js';
import { connect, disconnect, type Connection } from './connection.js';
import { createTriggersOnLoaded } from './scratch-triggers.js';
import { addCheckSql, checkConstraints, checkNamesPerSchema, dropCheckSql, planCheckNames, type CheckConstraint, type CheckNamePlan } from './check-constraints.js';
import { addForeignKeySql, foreignKeys } from './foreign-keys.js';
import { freshName, latin1Identifier, retargetTrigger } from './retarget.js';
import { statementKind } from './statement-kind.js';
import { quoteIdentifier as q } from './sql.js';
import type { SwapNames } from './swap-names.js';
import { createLoadedTable, keptFromEarlierAttempt, markLoaded, type LoadedTable } from './scratch-loaded.js';
import { createPlanTable, planHasSteps, runPlan, swapStage, writePlan, type PlanStep } from './swap-plan.js';
import { recoverScratch } from './swap-recovery.js';

/** Where a restore puts its tables: absent fields mean the service's own database and the archive's names. */
export interface SwapTarget {
  database?: string;
  /** Archive table → its name in the target database. */
  names?: ReadonlyMap<TableName, string>;
}

/** CHECK constraint names around the RENAME, each incoming one with the table it has in the scratch schema. */
interface SwapCheckPlan {
  dropFromReplaced: CheckConstraint[];
  renameIncoming: (CheckNamePlan['renameIncoming'][number] & { scratchTable: string })[];
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

  /**
   * Whether an earlier attempt of the same job swapped its tables in already (its process died
   * before the job's completion was recorded): its plan is finished now, and nothing is loaded
   * or swapped again (that would undo the writes made since).
   */
  async swappedEarlier(): Promise<boolean> {
    const stage = await swapStage(this.admin, this.names.scratch);
    if (stage !== 'swapped' && stage !== 'finished') return false;
    this.swapped = true;
    if (stage === 'swapped') await runPlan(this.admin, this.settings, this.names.scratch);
    return true;
  }

  /**
   * Keeps the tables an earlier attempt of the same job fully loaded (returned), or else finishes
   * or removes what it left and makes a fresh scratch schema (nothing kept).
   */
  async prepare(): Promise<Map<string, LoadedTable>> {
    const { scratch } = this.names;
    const kept = await keptFromEarlierAttempt(this.admin, scratch, () => planHasSteps(this.admin, scratch));
    if (kept) return kept;
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
    await createPlanTable(this.admin, this.names.scratch);
    await createLoadedTable(this.admin, this.names.scratch);
    return new Map();
  }

  /** Records a table as fully loaded and counted: a retry after a crash keeps it. */
  markLoaded(table: TableName, loaded: LoadedTable): Promise<void> {
    return markLoaded(this.admin, this.names.scratch, table, loaded);
  }

  async rowCount(table: TableName): Promise<number> {
    const [rows] = await this.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(this.names.scratch)}.${q(table)}`);
    return Number(rows[0]?.n);
  }

  /**
   * Before the swap: removes the scratch schema and everything loaded into it (the live tables
   * were never touched). After it, the scratch schema holds the plan: it stays for the retried
   * job or the next start to finish.
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
          throw new ConflictError(
            `${table} has foreign key ${key.name} to ${refTable}, which database ${live} does not have: restore ${refTable} with it, or create it first`,
          );
        }
      }
      const renamed = { ...key, name: freshName(key.name, table, this.nameOf(table), takenKeys) };
      steps.push({ kind: 'add-fk', target: { table: this.nameOf(table), name: renamed.name }, statement: `ALTER TABLE ${q(live)}.${q(this.nameOf(table))} ADD ${addForeignKeySql(renamed, refSchema, refTable)}` });
    }
    const checks = await this.checkNamePlan(existing);
    for (const c of checks.renameIncoming) {
      steps.push({ kind: 'sql', statement: addCheckSql(live, c.table, c.newName, c) });
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
    await writePlan(this.admin, scratch, steps);
    for (const key of loadedKeys) await this.admin.query(`ALTER TABLE ${q(scratch)}.${q(key.table)} DROP FOREIGN KEY ${q(key.name)}`);
    for (const c of checks.renameIncoming) await this.admin.query(dropCheckSql(scratch, { table: c.scratchTable, name: c.name }));

    const renames: string[] = [];
    this.tables.forEach((table, index) => {
      const name = this.nameOf(table);
      if (existing.has(name)) renames.push(`${q(live)}.${q(name)} TO ${q(live)}.${q(this.names.oldName(index))}`);
      renames.push(`${q(scratch)}.${q(table)} TO ${q(live)}.${q(name)}`);
    });
    // The rows of a table set aside go away with it: dropping its CHECK first (metadata only) costs nothing.
    for (const c of checks.dropFromReplaced) await this.admin.query(dropCheckSql(live, c));
    try {
      await this.admin.query(`RENAME TABLE ${renames.join(', ')}`);
    } catch (err) {
      for (const c of checks.dropFromReplaced) await this.admin.query(addCheckSql(live, c.table, c.name, c)).catch(() => undefined);
      throw err;
    }
    this.swapped = true;
    // The scratch schema, holding the finished plan, stays until the job's completion is recorded
    // (removeScratch): until then a redelivery must be able to tell that the swap happened.
    await runPlan(this.admin, this.settings, scratch);
    // Fresh statistics: a renamed-in table may otherwise report no rows to the optimizer (and to
    // the next backup's progress estimate) until the server gets round to sampling it.
    await this.admin.query(`ANALYZE TABLE ${this.tables.map((t) => `${q(live)}.${q(this.nameOf(t))}`).join(', ')}`).catch(() => undefined);
  }

  /**
   * On MySQL 8, what the RENAME needs about CHECK constraint names (see check-constraints.ts);
   * nothing on MariaDB, whose names are per table.
   */
  private async checkNamePlan(existing: ReadonlySet<string>): Promise<SwapCheckPlan> {
    const [[row]] = await this.admin.query<RowDataPacket[]>('SELECT VERSION() AS version');
    if (!checkNamesPerSchema(String(row?.version ?? ''))) return { dropFromReplaced: [], renameIncoming: [] };
    const scratchTables = new Map(this.tables.map((t) => [this.nameOf(t), t as string]));
    const incoming = (await checkConstraints(this.admin, this.names.scratch))
      .filter((c) => this.tables.includes(c.table as TableName))
      .map((c) => ({ ...c, table: this.nameOf(c.table as TableName) }));
    const replaced = new Set([...scratchTables.keys()].filter((name) => existing.has(name)));
    const plan = planCheckNames(incoming, await checkConstraints(this.admin, this.live), replaced);
    return { ...plan, renameIncoming: plan.renameIncoming.map((c) => ({ ...c, scratchTable: scratchTables.get(c.table) as string })) };
  }

  /**
   * Creates each table's triggers on its loaded copy and drops them again, before anything is
   * swapped: a trigger the server refuses (a DEFINER the service's user may not name, a body it
   * does not accept) then fails the job with the live tables untouched, instead of after the swap.
   */
  private async tryTriggers(sessions: string[][]): Promise<void> {
    const { scratch } = this.names;
    await createTriggersOnLoaded(this.settings, scratch, this.tables, sessions);
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
      if (this.retargeted) throw new ConflictError(`${table}.sql has a trigger whose header is not understood; it cannot be moved to ${this.nameOf(table)}`);
      return statement;
    }
    if (result.bodyNamesOldTable) {
      this.warnings.push(`trigger ${result.name} on ${this.live}.${this.nameOf(table)} names ${table} in its body, which is left as written (it means ${this.live}.${table})`);
    }
    return this.retargeted ? result.statement : statement;
  }
}
