import { retryWithBackoff } from '../retry.js';

/**
 * JetStream calls that fail only while the cluster moves (a leader election after a node died,
 * the client reconnecting to another node) come back as timeouts, "no responders" or, on 2.9,
 * "jetstream is not enabled". Those are retried with backoff for a while; anything else fails
 * at once.
 */
const TRANSIENT = /timeout|timed out|no responders|503|jetstream is not enabled|not enabled for account|leader|cluster|disconnect|reconnect|connection (closed|draining)/i;

function isTransient(err: unknown): boolean {
  const e = err as { message?: string; name?: string; code?: string | number };
  return TRANSIENT.test(`${e?.name ?? ''} ${e?.message ?? ''} ${e?.code ?? ''}`);
}

/** Long enough for a reconnect plus an R3 leader election (measured: 4–9 s on 2.9). */
const TRANSIENT_RETRY_MS = 15_000;

export function retryTransient<T>(attempt: () => Promise<T>, forMs = TRANSIENT_RETRY_MS): Promise<T> {
  return retryWithBackoff(attempt, { forMs, firstDelayMs: 100, maxDelayMs: 2_000, retryIf: isTransient });
}
