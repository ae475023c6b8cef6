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

/**
 * Aborted once the process is shutting down and its jobs are handed back: from then on no retry
 * loop anywhere waits for another attempt (a request's lookup, a schedule's claim, the bucket's
 * watch), so nothing keeps the exit waiting.
 */
const shutdown = new AbortController();

export function stopAllRetries(): void {
  shutdown.abort(new Error('the service is shutting down'));
}

/** Runs `attempt` until it succeeds, waiting longer after each failure, up to a limit. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.forMs;
  // Not AbortSignal.any: one per call, each listening on the process-wide signal, would pile up.
  const signals = options.signal ? [options.signal, shutdown.signal] : [shutdown.signal];
  const throwIfAborted = () => signals.forEach((signal) => signal.throwIfAborted());
  for (let failures = 1; ; failures++) {
    throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      throwIfAborted();
      const delay = backoffDelay(failures, options);
      if ((options.retryIf && !options.retryIf(err)) || Date.now() + delay > deadline) throw err;
      options.onRetry?.(err, delay);
      await sleep(delay, ...signals);
    }
  }
}

/** Waits `ms`; an abort of any of `signals` ends the wait at once with that signal's reason. */
export function sleep(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = signals.find((signal) => signal.aborted);
    if (aborted) return reject(aborted.reason as Error);
    const listeners = signals.map((signal) => {
      const onAbort = () => {
        done();
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    });
    const done = () => {
      clearTimeout(timer);
      listeners.forEach((remove) => remove());
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
  });
}
