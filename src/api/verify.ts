import type { Msg } from '@nats-io/transport-node';
import { NotFoundError } from '../errors.js';
import { newVerifyJob } from '../job-kinds.js';
import { checkArchiveName, type ArchiveName, type TableName } from '../names.js';
import type { ApiContext } from './context.js';
import { jsonObjectBody } from './json-body.js';
import { replyOk, requestParts } from './reply.js';
import { badRequest, type Parsed, type RequestParts } from './request.js';

const SHAPE = '{"archive": "<name>.7z", "deep": true}';

interface VerifyRequest {
  archive: ArchiveName;
  deep: boolean;
}

function parseVerifyRequest(req: RequestParts): Parsed<VerifyRequest> {
  const parsed = jsonObjectBody(req, 'verify', ['archive', 'deep'], SHAPE);
  if (!parsed.ok) return parsed;
  const body = parsed.value;
  if (typeof body.archive !== 'string') return badRequest('"archive" must be a string: the archive\'s file name');
  const archive = checkArchiveName(body.archive.trim());
  if (!archive.ok) return badRequest(archive.reason);
  if (body.deep !== undefined && typeof body.deep !== 'boolean') return badRequest('"deep" must be true or false');
  return { ok: true, value: { archive: archive.value, deep: body.deep === true } };
}

/**
 * `<p>.verify`: queues a job that checks the archive end to end (verify.ts); answered
 * `{"status": "ok"}` with its `Backup-Job-Id`. The archive must exist in either place; two copies
 * that differ are verified too (that is one of the things it reports). Pinned like a restore's.
 */
export async function handleVerify(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseVerifyRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const { archive, deep } = parsed.value;
  const entry = await ctx.catalog.find(archive);
  if (!entry) throw new NotFoundError(`archive ${archive} not found`);
  const listed = await ctx.catalog.tablesListed(entry).catch(() => null);
  const job = newVerifyJob(archive, (listed ?? []).map((name) => name.replace(/\.sql$/, '') as TableName), deep);
  await ctx.queue.enqueuePinned(job, ctx.pins, (name) => ctx.catalog.has(name));
  ctx.log.info({ job: job.id, archive, deep }, 'verify queued');
  replyOk(msg, { status: 'ok' }, { 'Backup-Job-Id': job.id });
}
