import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad, requestParts } from './reply.js';

const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

/** `<prefix>.status`: the job id in the body or the `job` header → the job's state as JSON. */
export async function handleStatus(msg: Msg, ctx: ApiContext): Promise<void> {
  const parts = requestParts(msg);
  const id = (parts.header('job') ?? parts.body).trim();
  if (!JOB_ID.test(id)) return replyBad(msg, { status: 'bad' }, 400, 'expected a job id in the body or the "job" header');
  const state = await ctx.queue.states.get(id);
  if (!state) return replyBad(msg, { status: 'bad' }, 404, `job ${id} not found (unknown, or expired)`);
  msg.respond(JSON.stringify(state));
}
