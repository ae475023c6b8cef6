export interface RetryOptions {
  /** Give up (rethrow the last error) once the next wait would end after this long. */
  forMs: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Which errors are worth another attempt; by default every one. */
  retryIf?: (err: unknown) => boolean;
  onRetry?: (err: unknown, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, waiting twice as long after each failure, up to a limit. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.forMs;
  for (let delay = options.firstDelayMs; ; delay = Math.min(delay * 2, options.maxDelayMs)) {
    try {
      return await attempt();
    } catch (err) {
      if ((options.retryIf && !options.retryIf(err)) || Date.now() + delay > deadline) throw err;
      options.onRetry?.(err, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
