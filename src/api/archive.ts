import type { Msg } from '@nats-io/transport-node';
import { errorKindOf } from '../errors.js';
import type { ApiContext } from './context.js';
import { replyBodyLimit } from './payload.js';
import { pyJson } from './pyjson.js';
import { replyOk, requestParts } from './reply.js';
import { replyError } from './reply-error.js';
import { parseArchiveRequest } from './request.js';

/** `<p>.archive`: the seed's failure body names the archive, whatever went wrong, so it answers its own failures. */
export async function handleArchive(msg: Msg, ctx: ApiContext): Promise<void> {
  const parts = requestParts(msg);
  const parsed = parseArchiveRequest(parts);
  if (!parsed.ok) {
    const given = (parts.header('archivename') ?? parts.body.replace(/^\s*archivename=/, '')).trim();
    return replyError(msg, { [echoed(given, replyBodyLimit(msg))]: 'bad' }, parsed.error);
  }
  let tables;
  try {
    ({ tables } = await ctx.catalog.describe(parsed.value));
  } catch (err) {
    if (errorKindOf(err) === 'internal') ctx.log.error({ err, archive: parsed.value }, 'archive: the archive could not be described');
    return replyError(msg, { [parsed.value]: 'bad' }, err);
  }
  replyOk(msg, { tables: tables.join(',') });
}

const CUT_ECHO_CHARS = 255;

/**
 * The name a refused request gave, as the key of the seed's `{"<name>": "bad"}`: as sent, so the
 * caller finds its own key, unless that reply would exceed `bodyLimit` (max_payload; a name is
 * escaped ×6 when not ASCII), which would fail the reply itself: then cut after 255 characters,
 * with `…`.
 */
export function echoed(given: string, bodyLimit: number): string {
  if (Buffer.byteLength(pyJson({ [given]: 'bad' })) <= bodyLimit) return given;
  return `${[...given].slice(0, CUT_ECHO_CHARS).join('')}…`;
}
