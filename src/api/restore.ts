import type { Msg } from '@nats-io/transport-node';
import { newRestoreJob, type RestoreJob } from '../job-kinds.js';
import { ArchiveBeingPruned } from '../store/pins.js';
import { entryNameOf } from '../names.js';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseRestoreRequest } from './request.js';

const BAD = { status: 'bad' };

export async function handleRestore(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseRestoreRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, BAD, parsed.code, parsed.reason);
  const { archive, tables } = parsed.value;
  await queueRestore(msg, ctx, newRestoreJob(archive, tables));
}

/**
 * The archive must hold every table; it is pinned, the job queued, and the caller answered ok
 * with the job's id. Shared by `restore` and `restoreinto`.
 */
export async function queueRestore(msg: Msg, ctx: ApiContext, job: RestoreJob): Promise<void> {
  const { archive, tables } = job;
  const description = await ctx.catalog.describe(archive);
  if (!description.ok) return replyBad(msg, BAD, description.code, description.reason);
  const missing = tables.map(entryNameOf).filter((entry) => !description.tables.includes(entry));
  if (missing.length > 0) return replyBad(msg, BAD, 404, `archive ${archive} does not hold ${missing.join(', ')}`);
  // Pinned before it is queued, so retention never removes an archive a queued restore needs.
  try {
    await ctx.pins.pin(archive, job.id);
  } catch (err) {
    if (err instanceof ArchiveBeingPruned) return replyBad(msg, BAD, 404, err.message);
    throw err;
  }
  let queued = false;
  try {
    // Retention may have removed it between the check above and the pin.
    if (!(await ctx.catalog.has(archive))) return replyBad(msg, BAD, 404, `archive ${archive} not found`);
    await ctx.queue.enqueueRestore(job);
    queued = true;
  } finally {
    if (!queued) await ctx.pins.unpin(archive, job.id).catch(() => undefined);
  }
  ctx.log.info({ job: job.id, archive, tables, database: job.database, rename: job.rename }, 'restore queued');
  replyOk(msg, { status: 'ok' }, { 'Backup-Job-Id': job.id });
}
