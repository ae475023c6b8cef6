import type { Msg } from '@nats-io/transport-node';
import type { ApiContext } from './context.js';
import { replyBad } from './reply.js';

/**
 * Runs a request's quick MySQL check; when MySQL cannot be reached the request is answered 503
 * with `failureBody` and the result is `undefined`.
 */
export async function checkMysql<T>(msg: Msg, ctx: ApiContext, failureBody: Record<string, string>, subject: string, check: () => Promise<T>): Promise<T | undefined> {
  try {
    return await check();
  } catch (err) {
    ctx.log.error({ err }, `${subject}: cannot reach MySQL`);
    replyBad(msg, failureBody, 503, `MySQL is unavailable: ${(err as Error).message}`);
    return undefined;
  }
}
