import type { Msg } from '@nats-io/transport-node';
import { NotFoundError } from '../errors.js';
import { newRestoreJob, type RestoreJob } from '../job-kinds.js';
import { entryNameOf } from '../names.js';
import type { ApiContext } from './context.js';
import { replyOk, requestParts } from './reply.js';
import { parseRestoreRequest } from './request.js';

export async function handleRestore(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseRestoreRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const { archive, tables } = parsed.value;
  await queueRestore(msg, ctx, newRestoreJob(archive, tables));
}

/**
 * The archive must hold every table; it is pinned, the job queued, and the caller answered ok
 * with the job's id (or a ServiceError thrown). Shared by `restore` and `restoreinto`.
 */
export async function queueRestore(msg: Msg, ctx: ApiContext, job: RestoreJob): Promise<void> {
  const { archive, tables } = job;
  const held = (await ctx.catalog.describe(archive)).tables;
  const missing = tables.map(entryNameOf).filter((entry) => !held.includes(entry));
  if (missing.length > 0) throw new NotFoundError(`archive ${archive} does not hold ${missing.join(', ')}`);
  await ctx.queue.enqueuePinned(job, ctx.pins, (name) => ctx.catalog.has(name));
  ctx.log.info({ job: job.id, archive, tables, database: job.database, rename: job.rename }, 'restore queued');
  replyOk(msg, { status: 'ok' }, { 'Backup-Job-Id': job.id });
}
