import type { Msg } from '@nats-io/transport-node';
import { entryNameOf } from '../names.js';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseRestoreRequest } from './request.js';

const BAD = { status: 'bad' };

export async function handleRestore(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseRestoreRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, BAD, parsed.code, parsed.reason);
  const { archive, tables } = parsed.value;
  const description = await ctx.catalog.describe(archive);
  if (!description.ok) return replyBad(msg, BAD, description.code, description.reason);
  const missing = tables.map(entryNameOf).filter((entry) => !description.tables.includes(entry));
  if (missing.length > 0) return replyBad(msg, BAD, 404, `archive ${archive} does not hold ${missing.join(', ')}`);
  const job = await ctx.queue.enqueueRestore(archive, tables);
  ctx.log.info({ job: job.id, archive, tables }, 'restore queued');
  replyOk(msg, { status: 'ok' }, { 'Backup-Job-Id': job.id });
}
