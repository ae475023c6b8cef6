import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import { errorKindOf, ServiceError, type ErrorKind } from '../errors.js';
import { pyJson } from './pyjson.js';

type ErrorCode = 400 | 403 | 404 | 409 | 413 | 500 | 503;

/** The `Nats-Service-Error-Code` of each kind of failure; the only place a code is chosen. */
const CODE_OF_KIND: Record<ErrorKind, ErrorCode> = {
  'bad-request': 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  internal: 500,
  unavailable: 503,
};

/**
 * Answers a failed request: the subject's seed body (`failureBody`), and why in the headers
 * `Nats-Service-Error` (one line) and `Nats-Service-Error-Code` (from the error's kind). An error
 * that is not a ServiceError is internal (500), its message prefixed with `internal error: `.
 */
export function replyError(msg: Msg, failureBody: Record<string, string>, err: unknown): void {
  const reason = err instanceof ServiceError ? err.message : `internal error: ${messageOf(err)}`;
  const h = natsHeaders();
  h.set('Nats-Service-Error', oneLine(reason));
  h.set('Nats-Service-Error-Code', String(CODE_OF_KIND[errorKindOf(err)]));
  msg.respond(pyJson(failureBody), { headers: h });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 500);
}
