import type { Msg } from '@nats-io/transport-node';
import { BadRequestError } from '../errors.js';
import { newRestoreJob, type RestoreJob } from '../job-kinds.js';
import { checkTargetDatabase } from '../mysql/target-database.js';
import type { ApiContext } from './context.js';
import { requestParts } from './reply.js';
import { queueRestore } from './restore.js';
import { parseRestoreIntoRequest, type RestoreIntoRequest } from './restoreinto-request.js';
import { orUnavailable } from './unavailable.js';

/**
 * `<p>.restoreinto`: like `restore` (queued, atomic, the same replies), but into another database,
 * under other names, or both. The service's own table of an archive table's name is never written.
 */
export async function handleRestoreInto(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseRestoreIntoRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const target = targetOf(parsed.value, ctx.config.mysql.database);
  const { database } = target;
  if (database !== undefined) await orUnavailable('MySQL is unavailable', () => ctx.sessions.use((conn) => checkTargetDatabase(conn, database)));
  await queueRestore(msg, ctx, newRestoreJob(parsed.value.archive, parsed.value.tables, target));
}

/**
 * The job's target. The service's own database named as `database` is the same as leaving it out
 * (so one table has one lock key); there, every table must get a new name that is none of the
 * requested tables' names, or a live table of an archive table's name would be replaced: that is
 * a plain restore, refused here.
 */
function targetOf(request: RestoreIntoRequest, own: string): Pick<RestoreJob, 'database' | 'rename'> {
  const { database, rename, tables } = request;
  if (database !== undefined && database !== own) return { database, ...(rename && { rename }) };
  const kept = tables.filter((table) => !rename || !Object.hasOwn(rename, table));
  if (kept.length > 0) {
    throw new BadRequestError(
      `${kept.join(', ')} would replace the live table${kept.length > 1 ? 's' : ''} of the same name in ${own}, the service's own database: ` +
        'give a new name in "rename" or another "database" (or use the restore subject to replace them)',
    );
  }
  const names = rename ?? {};
  const clash = tables.find((table) => tables.some((other) => other === names[table]));
  if (clash !== undefined) {
    throw new BadRequestError(`${clash} would be restored as ${names[clash]}, a table of this restore: in ${own} that replaces the live ${names[clash]}`);
  }
  return { rename: names };
}
