import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseArchiveRequest } from './request.js';

export async function handleArchive(msg: Msg, ctx: ApiContext): Promise<void> {
  const parts = requestParts(msg);
  const parsed = parseArchiveRequest(parts);
  if (!parsed.ok) {
    const given = (parts.header('archivename') ?? parts.body.replace(/^\s*archivename=/, '')).trim();
    return replyBad(msg, { [given]: 'bad' }, parsed.code, parsed.reason);
  }
  const description = await ctx.catalog.describe(parsed.value);
  if (!description.ok) return replyBad(msg, { [parsed.value]: 'bad' }, description.code, description.reason);
  replyOk(msg, { tables: description.tables.join(',') });
}
