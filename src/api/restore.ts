import type { Msg } from '@nats-io/transport-node';
import { NotFoundError } from '../errors.js';
import { newRestoreJob, type RestoreJob, type VerifyJob } from '../job-kinds.js';
import { ArchiveBeingPruned } from '../store/pins.js';
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
 * Pins the job's archive, then queues the job (a restore or a verify): retention never removes an
 * archive a queued job needs. The pin is taken back when the job could not be queued.
 */
export async function pinAndEnqueue(ctx: ApiContext, job: RestoreJob | VerifyJob): Promise<void> {
  const { archive } = job;
  try {
    await ctx.pins.pin(archive, job.id);
  } catch (err) {
    if (err instanceof ArchiveBeingPruned) throw new NotFoundError(err.message, { cause: err });
    throw err;
  }
  let queued = false;
  try {
    // Retention may have removed it between the caller's check and the pin.
    if (!(await ctx.catalog.has(archive))) throw new NotFoundError(`archive ${archive} not found`);
    await ctx.queue.enqueue(job);
    queued = true;
  } finally {
    if (!queued) await ctx.pins.unpin(archive, job.id).catch(() => undefined);
  }
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
  await pinAndEnqueue(ctx, job);
  ctx.log.info({ job: job.id, archive, tables, database: job.database, rename: job.rename }, 'restore queued');
  replyOk(msg, { status: 'ok' }, { 'Backup-Job-Id': job.id });
}
