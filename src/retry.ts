interface BackoffOptions {
  firstDelayMs: number;
  maxDelayMs: number;
}

/**
 * The one backoff of the service: twice as long after each failure, up to `maxDelayMs`, with
 * "equal jitter" (a random half on top of a fixed half), so instances that failed together do not
 * retry in lockstep. `failures` counts from 1.
 */
export function backoffDelay(failures: number, { firstDelayMs, maxDelayMs }: BackoffOptions): number {
  const ceiling = Math.min(maxDelayMs, firstDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export interface RetryOptions extends BackoffOptions {
  /** Give up (rethrow the last error) once the next wait would end after this long. */
  forMs: number;
  /** Which errors are worth another attempt; by default every one. */
  retryIf?: (err: unknown) => boolean;
  onRetry?: (err: unknown, delayMs: number) => void;
  /** Ends the waiting between attempts (and starts no new one): the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** Runs `attempt` until it succeeds, waiting longer after each failure, up to a limit. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.forMs;
  for (let failures = 1; ; failures++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      options.signal?.throwIfAborted();
      const delay = backoffDelay(failures, options);
      if ((options.retryIf && !options.retryIf(err)) || Date.now() + delay > deadline) throw err;
      options.onRetry?.(err, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Waits `ms`; an abort of `signal` ends the wait at once with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
