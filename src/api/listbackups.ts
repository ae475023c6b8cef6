import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBodyLimit } from './payload.js';
import { pyJson } from './pyjson.js';
import { TooLargeError } from '../errors.js';
import { replyOk, requestParts } from './reply.js';
import { parseListRequest } from './request.js';

export async function handleListBackups(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseListRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const archives = await ctx.catalog.list();
  const body = Object.fromEntries(archives.map((archive, i) => [String(i), archive.name]));
  // The seed's listing is one message: when it cannot be, say so instead of timing the caller out.
  const bytes = Buffer.byteLength(pyJson(body));
  const limit = replyBodyLimit(msg);
  if (bytes > limit) {
    throw new TooLargeError(
      `the listing of ${archives.length} archives is ${bytes} bytes, more than this server's max_payload allows (${limit} for a reply body): page it with ${ctx.config.subjectPrefix}.backups and a body {"limit": N, "offset": M}`,
    );
  }
  replyOk(msg, body);
}
