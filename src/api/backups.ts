import type { Msg } from '@nats-io/transport-node';
import { detailRequested, handleBackupDetail } from './backup-detail.js';
import type { ApiContext } from './context.js';
import { replyBad } from './reply.js';

/**
 * `<prefix>.backups`: the catalog with details, oldest first: where each archive is stored
 * (`local`, `object` or `both`), its size, when it was made, its tables, its SHA-256, and a
 * `conflict` when the two copies differ. A body `{"archive": "<name>"}` asks for one archive in
 * detail instead (backup-detail.ts).
 */
export async function handleBackups(msg: Msg, ctx: ApiContext): Promise<void> {
  const detail = detailRequested(msg);
  if (detail) return handleBackupDetail(msg, ctx, detail);
  let entries;
  try {
    entries = await ctx.catalog.details();
  } catch (err) {
    ctx.log.error({ err }, 'backups: the catalog cannot be read');
    return replyBad(msg, { status: 'bad' }, 503, `the catalog cannot be read: ${(err as Error).message}`);
  }
  const archives = await Promise.all(
    entries.map(async (entry) => ({
      name: entry.name,
      stored: entry.stored,
      size: entry.size,
      created: entry.created,
      tables: await ctx.catalog.tablesListed(entry),
      sha256: entry.object?.sha256 ?? null,
      ...(entry.object && { bucket: entry.object.bucket, digest: entry.object.digest }),
      // Scheduled archives are named by the service's object metadata (a local-only copy says nothing).
      ...(entry.object?.metadata.schedule && !entry.conflict && { schedule: entry.object.metadata.schedule, slot: entry.object.metadata.slot ?? null }),
      ...(entry.conflict && { conflict: entry.conflict }),
    })),
  );
  msg.respond(JSON.stringify({ status: 'ok', archives }));
}
