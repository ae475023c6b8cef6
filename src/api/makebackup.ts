import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { checkMysql } from './mysql-check.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseBackupRequest } from './request.js';

const BAD = { status: 'bad', futurefilename: '' };

export async function handleMakeBackup(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseBackupRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, BAD, parsed.code, parsed.reason);
  const tables = parsed.value;
  const missing = await checkMysql(msg, ctx, BAD, 'makebackup', () => ctx.tables.missing(tables));
  if (missing === undefined) return;
  if (missing.length > 0) {
    return replyBad(msg, BAD, 404, `table${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`);
  }
  const job = await ctx.queue.enqueueBackup(tables, (name) => ctx.catalog.has(name));
  ctx.log.info({ job: job.id, archive: job.archive, tables }, 'backup queued');
  replyOk(msg, { status: 'ok', futurefilename: ctx.catalog.dir.pathOf(job.archive) }, { 'Backup-Job-Id': job.id });
}
