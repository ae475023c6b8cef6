import { ClosedConnectionError, ConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamStatusError, jserrors } from '@nats-io/jetstream/internal';
import { retryWithBackoff } from './retry.js';

/**
 * JetStream API error codes of a cluster that is moving (nats-server's errors.json): the system
 * or a stream's leader temporarily unavailable, JetStream (not yet) enabled on the node answering.
 */
const MOVING_CLUSTER_CODES = new Set([
  10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
  10009, // JSClusterNotLeaderErr: JetStream cluster can not handle request
  10039, // JSNotEnabledForAccountErr
  10076, // JSNotEnabledErr
]);

/**
 * JetStream calls that fail only while the cluster moves (a leader election after a node died,
 * the client reconnecting to another node): a timeout, no responders (the v3 client turns that
 * into `JetStreamNotEnabled` on JetStream API calls), a connection lost or being re-made, or one
 * of the codes above. Recognised by the client's error classes and the server's codes, never by
 * the words of a message.
 */
function isTransient(err: unknown): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError || err instanceof jserrors.JetStreamNotEnabled) return true;
  if (err instanceof ConnectionError || err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) return true;
  if (err instanceof RequestError) return err.isNoResponders() || isTransient(err.cause);
  if (err instanceof JetStreamApiError) return MOVING_CLUSTER_CODES.has(err.code) || err.status === 503;
  if (err instanceof JetStreamStatusError) return err.code === 503 || err.code === 408;
  return false;
}

/** Long enough for a reconnect plus an R3 leader election (measured: 4–9 s on 2.9). */
const TRANSIENT_RETRY_MS = 15_000;

export function retryTransient<T>(attempt: () => Promise<T>, options: { forMs?: number; signal?: AbortSignal } = {}): Promise<T> {
  return retryWithBackoff(attempt, { forMs: options.forMs ?? TRANSIENT_RETRY_MS, firstDelayMs: 100, maxDelayMs: 2_000, retryIf: isTransient, signal: options.signal });
}
