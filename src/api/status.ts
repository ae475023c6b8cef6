import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { NotFoundError } from '../errors.js';
import { requestParts } from './reply.js';
import { parseStatusRequest } from './request.js';

/** `<prefix>.status`: the job id in the body or the `job` header → the job's state as JSON. */
export async function handleStatus(msg: Msg, ctx: ApiContext): Promise<void> {
  const parsed = parseStatusRequest(requestParts(msg));
  if (!parsed.ok) throw parsed.error;
  const id = parsed.value;
  const state = await ctx.queue.states.get(id);
  if (!state) throw new NotFoundError(`job ${id} not found (unknown, or expired)`);
  msg.respond(JSON.stringify(state));
}
