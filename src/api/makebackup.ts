import type { Msg } from '@nats-io/transport-node';
import { tablesNotFound } from '../mysql/table-names.js';
import type { ApiContext } from './context.js';
import { replyOk, requestParts } from './reply.js';
import { parseBackupRequest } from './request.js';
import { orUnavailable } from './unavailable.js';

export async function handleMakeBackup(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseBackupRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const tables = parsed.value;
  const missing = await orUnavailable('MySQL is unavailable', () => ctx.tables.missing(tables));
  if (missing.length > 0) throw tablesNotFound(missing);
  const job = await ctx.queue.enqueueBackup(tables, (name) => ctx.catalog.nameTaken(name));
  ctx.log.info({ job: job.id, archive: job.archive, tables }, 'backup queued');
  replyOk(msg, { status: 'ok', futurefilename: ctx.catalog.dir.pathOf(job.archive) }, { 'Backup-Job-Id': job.id });
}
