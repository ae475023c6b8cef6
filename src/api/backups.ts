import type { Msg } from '@nats-io/transport-node';
import { BadRequestError } from '../errors.js';
import { detailRequested, handleBackupDetail } from './backup-detail.js';
import type { ApiContext } from './context.js';
import { replyBodyLimit } from './payload.js';
import { requestParts } from './reply.js';
import { orUnavailable } from './unavailable.js';

const MAX_LIMIT = 10_000;

type PageRequest = { offset: number; limit: number } | null;

/**
 * `<prefix>.backups`: the catalog with details, oldest first: where each archive is stored
 * (`local`, `object` or `both`), its size, when it was made, its tables, its SHA-256, and a
 * `conflict` when the two copies differ. A body `{"archive": "<name>"}` asks for one archive in
 * detail instead (backup-detail.ts). A body `{"limit": N, "offset": M}` (either may be left out)
 * asks for one page: the reply adds `total`, `offset` and `next` (the offset of the next page, null
 * after the last). A reply never exceeds the server's max_payload: a page (or the plain listing)
 * that would is cut short, and `next` says where to go on.
 */
export async function handleBackups(msg: Msg, ctx: ApiContext): Promise<void> {
  const detail = detailRequested(msg);
  if (detail) return handleBackupDetail(msg, ctx, detail);
  const page = pageRequested(msg);
  const { total, entries } = await orUnavailable('the catalog cannot be read', async () => ({
    total: (await ctx.catalog.list()).length,
    entries: await ctx.catalog.details(page?.offset ?? 0, page?.limit ?? Infinity),
  }));
  const archives = await Promise.all(
    entries.map(async (entry) => ({
      name: entry.name,
      stored: entry.stored,
      size: entry.size,
      created: entry.created,
      tables: await ctx.catalog.tablesListed(entry),
      encrypted: await ctx.catalog.encrypted(entry),
      sha256: entry.object?.sha256 ?? null,
      ...(entry.object && { bucket: entry.object.bucket, digest: entry.object.digest }),
      // Scheduled archives are named by the service's object metadata (a local-only copy says nothing).
      ...(entry.object?.metadata.schedule && !entry.conflict && { schedule: entry.object.metadata.schedule, slot: entry.object.metadata.slot ?? null }),
      ...(entry.conflict && { conflict: entry.conflict }),
    })),
  );
  const offset = page?.offset ?? 0;
  const fitting = fittingPrefix(archives.map((a) => JSON.stringify(a)), replyBodyLimit(msg) - 200);
  if (!page && fitting.length === archives.length) {
    // The reply as it always was.
    msg.respond(JSON.stringify({ status: 'ok', archives }));
    return;
  }
  const next = offset + fitting.length < total ? offset + fitting.length : null;
  msg.respond(`{"status":"ok","archives":[${fitting.join(',')}],"total":${total},"offset":${offset},"next":${next}}`);
}

/** As many leading items as fit in `budget` bytes of a JSON array (at least none). */
function fittingPrefix(items: string[], budget: number): string[] {
  let used = 2;
  let count = 0;
  for (const item of items) {
    used += Buffer.byteLength(item) + 1;
    if (used > budget) break;
    count++;
  }
  return items.slice(0, count);
}

/** A JSON body with `limit` or `offset`: a page (BadRequestError when out of range); anything else is the plain listing (null). */
function pageRequested(msg: Msg): PageRequest {
  const { body } = requestParts(msg);
  if (!body.trimStart().startsWith('{')) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || !('limit' in parsed || 'offset' in parsed)) return null;
  const { limit = MAX_LIMIT, offset = 0 } = parsed as { limit?: unknown; offset?: unknown };
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) throw new BadRequestError(`"limit" must be a whole number from 1 to ${MAX_LIMIT}`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new BadRequestError('"offset" must be a whole number from 0');
  return { offset: offset as number, limit: limit as number };
}
