import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad, replyOk, requestParts } from './reply.js';
import { parseArchiveRequest } from './request.js';

export async function handleArchive(msg: Msg, ctx: ApiContext): Promise<void> {
  const parts = requestParts(msg);
  const parsed = parseArchiveRequest(parts);
  if (!parsed.ok) {
    const given = (parts.header('archivename') ?? parts.body.replace(/^\s*archivename=/, '')).trim();
    return replyBad(msg, { [echoed(given)]: 'bad' }, parsed.code, parsed.reason);
  }
  let description;
  try {
    description = await ctx.catalog.describe(parsed.value);
  } catch (err) {
    // The seed's failure body for this subject names the archive, whatever went wrong.
    ctx.log.error({ err, archive: parsed.value }, 'archive: the archive could not be described');
    return replyBad(msg, { [parsed.value]: 'bad' }, 500, `internal error: ${(err as Error).message}`);
  }
  if (!description.ok) return replyBad(msg, { [parsed.value]: 'bad' }, description.code, description.reason);
  replyOk(msg, { tables: description.tables.join(',') });
}

const MAX_ECHOED_CHARS = 255;

/**
 * The name a refused request gave, as the key of the seed's `{"<name>": "bad"}`: cut after 255
 * characters (with `…`), so a huge name (escaped ×6 when not ASCII) never makes a reply larger
 * than NATS's max_payload — which would fail the reply itself.
 */
export function echoed(given: string): string {
  const chars = [...given];
  return chars.length > MAX_ECHOED_CHARS ? `${chars.slice(0, MAX_ECHOED_CHARS).join('')}…` : given;
}
