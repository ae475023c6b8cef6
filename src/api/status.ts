import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad, requestParts } from './reply.js';
import { parseStatusRequest } from './request.js';

/** `<prefix>.status`: the job id in the body or the `job` header → the job's state as JSON. */
export async function handleStatus(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseStatusRequest(requestParts(msg));
  if (!parsed.ok) return replyBad(msg, { status: 'bad' }, parsed.code, parsed.reason);
  const id = parsed.value;
  const state = await ctx.queue.states.get(id);
  if (!state) return replyBad(msg, { status: 'bad' }, 404, `job ${id} not found (unknown, or expired)`);
  msg.respond(JSON.stringify(state));
}
