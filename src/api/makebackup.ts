import type { Msg } from '@nats-io/transport-node';
import { missingTables } from '../mysql/catalog.js';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseBackupRequest } from './request.js';

const BAD = { status: 'bad', futurefilename: '' };

export async function handleMakeBackup(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseBackupRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, BAD, parsed.code, parsed.reason);
  const tables = parsed.value;
  let missing;
  try {
    missing = await ctx.sessions.use((conn) => missingTables(conn, tables));
  } catch (err) {
    ctx.log.error({ err }, 'makebackup: cannot reach MySQL');
    return replyBad(msg, BAD, 503, `MySQL is unavailable: ${(err as Error).message}`);
  }
  if (missing.length > 0) {
    return replyBad(msg, BAD, 404, `table${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`);
  }
  const job = await ctx.queue.enqueueBackup(tables, (name) => ctx.catalog.has(name));
  ctx.log.info({ job: job.id, archive: job.archive, tables }, 'backup queued');
  replyOk(msg, { status: 'ok', futurefilename: ctx.catalog.dir.pathOf(job.archive) }, { 'Backup-Job-Id': job.id });
}
