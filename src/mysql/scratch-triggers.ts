import type { MysqlSettings } from '../config.js';
import { ConflictError, ForbiddenError } from '../errors.js';
import type { TableName } from '../names.js';
import { connect, disconnect } from './connection.js';
import { latin1Identifier, retargetTrigger } from './retarget.js';
import { statementKind } from './statement-kind.js';

/** ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR (a DEFINER needing SUPER). */
const ACCESS_DENIED_ERRNOS = new Set([1044, 1142, 1227]);

/**
 * Creates each loaded table's triggers on it, in `schema` (where the restore loaded it), with the
 * session settings its dump ran before them. `sessions[i]` holds table `tables[i]`'s deferred
 * statements (latin1 strings of the dump's bytes); anything but settings and triggers is skipped.
 * A trigger the server refuses is a ForbiddenError (privileges) or a ConflictError naming the table.
 */
export async function createTriggersOnLoaded(settings: MysqlSettings, schema: string, tables: readonly TableName[], sessions: string[][]): Promise<void> {
  for (const [session, statements] of sessions.entries()) {
    if (!statements.some((statement) => statementKind(statement) === 'trigger')) continue;
    const table = tables[session] as TableName;
    const conn = await connect(settings, { rawBytes: true });
    try {
      await conn.query(`USE ${latin1Identifier(schema)}`);
      for (const statement of statements) {
        const kind = statementKind(statement);
        // Unqualified, so the trigger lands on the loaded copy whatever schema the dump named.
        const onLoaded = kind === 'trigger' ? retargetTrigger(statement, table, table, new Set(), new Map())?.statement : kind === 'set' ? statement : undefined;
        if (onLoaded !== undefined) await conn.query(onLoaded);
      }
    } catch (err) {
      const e = err as { sqlState?: string; errno?: number; message: string };
      const reason = `${table}.sql: the server refuses its triggers (nothing was changed): ${e.message.slice(0, 300)}`;
      // The server answered (an SQL state): the same statement fails again. A lost connection may not.
      if (typeof e.sqlState !== 'string') throw new Error(reason, { cause: err });
      throw ACCESS_DENIED_ERRNOS.has(e.errno ?? 0) ? new ForbiddenError(reason, { cause: err }) : new ConflictError(reason, { cause: err });
    } finally {
      await disconnect(conn);
    }
  }
}
