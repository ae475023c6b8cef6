import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseListRequest } from './request.js';

export async function handleListBackups(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseListRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, { status: 'bad' }, parsed.code, parsed.reason);
  const archives = await ctx.catalog.list();
  replyOk(msg, Object.fromEntries(archives.map((archive, i) => [String(i), archive.name])));
}
