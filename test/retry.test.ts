import { describe, expect, it } from 'vitest';
import { backoffDelay, retryWithBackoff, stopAllRetries } from '../src/retry.js';

const failing = () => Promise.reject(new Error('still down'));
const options = { forMs: 60_000, firstDelayMs: 5_000, maxDelayMs: 5_000 };

describe('retryWithBackoff', () => {
  it('waits between half and all of the doubled delay (equal jitter), up to the maximum', () => {
    for (let i = 0; i < 200; i++) {
      const third = backoffDelay(3, { firstDelayMs: 100, maxDelayMs: 10_000 });
      expect(third).toBeGreaterThanOrEqual(200);
      expect(third).toBeLessThanOrEqual(400);
      expect(backoffDelay(30, { firstDelayMs: 100, maxDelayMs: 1_000 })).toBeLessThanOrEqual(1_000);
    }
  });

  it("ends a wait between attempts at once when the caller's signal aborts, with its reason", async () => {
    const abort = new AbortController();
    const started = Date.now();
    const retrying = retryWithBackoff(failing, { ...options, signal: abort.signal });
    setTimeout(() => abort.abort(new Error('job aborted')), 50);
    await expect(retrying).rejects.toThrow('job aborted');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('starts no attempt with a signal aborted already', async () => {
    let attempts = 0;
    const abort = new AbortController();
    abort.abort(new Error('too late'));
    await expect(retryWithBackoff(async () => ++attempts, { ...options, signal: abort.signal })).rejects.toThrow('too late');
    expect(attempts).toBe(0);
  });

  // Last: it stops every retry loop of this test process.
  it('ends every retry loop, with or without a signal of its own, once the process stops all retries', async () => {
    const started = Date.now();
    const own = retryWithBackoff(failing, { ...options, signal: new AbortController().signal });
    const none = retryWithBackoff(failing, options);
    setTimeout(stopAllRetries, 50);
    await expect(own).rejects.toThrow('shutting down');
    await expect(none).rejects.toThrow('shutting down');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
