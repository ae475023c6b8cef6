import type { Msg } from '@nats-io/transport-node';

/** Room left in a reply for its headers (the reason, the error code, a job id). */
const HEADER_ROOM = 2048;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The largest reply body the server accepts on this connection (its `max_payload`, less room for
 * headers). A body beyond it makes the reply itself throw, and the caller only sees a timeout.
 */
export function replyBodyLimit(msg: Msg): number {
  // The message's publisher is the connection's protocol handler, which holds the server's INFO.
  const info = (msg as unknown as { publisher?: { info?: { max_payload?: number } } }).publisher?.info;
  return (info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - HEADER_ROOM;
}
