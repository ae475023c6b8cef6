import { expect, it } from 'vitest';
import { SharedRun } from '../src/shared-run.js';

it('runs once for callers that arrive together, and never answers a caller from a run that began before it asked', async () => {
  let runs = 0;
  let state = 0;
  const release: (() => void)[] = [];
  const shared = new SharedRun(async () => {
    runs++;
    const seen = state;
    await new Promise<void>((r) => release.push(r));
    return seen;
  });
  const first = shared.run();
  state = 1; // changed after the first run began: later callers must see it
  const later = Array.from({ length: 100 }, () => shared.run());
  expect(runs).toBe(1);
  release.shift()!();
  expect(await first).toBe(0);
  await new Promise((r) => setImmediate(r));
  expect(runs).toBe(2);
  release.shift()!();
  expect(new Set(await Promise.all(later))).toEqual(new Set([1]));
  expect(runs).toBe(2);
});

it('hands a failure to the callers of that run only; the next run starts afresh', async () => {
  let calls = 0;
  const shared = new SharedRun(async () => {
    calls++;
    if (calls === 1) throw new Error('first fails');
    return calls;
  });
  await expect(shared.run()).rejects.toThrow('first fails');
  expect(await shared.run()).toBe(2);
});

it('current() joins the run under way, though it began before the call, and starts one when none is', async () => {
  let runs = 0;
  const release: (() => void)[] = [];
  const shared = new SharedRun(async () => {
    const n = ++runs;
    await new Promise<void>((r) => release.push(r));
    return n;
  });
  const first = shared.current();
  const joined = shared.current();
  const fresh = shared.run(); // run() still waits for a run that starts after it
  expect(runs).toBe(1);
  release.shift()!();
  expect([await first, await joined]).toEqual([1, 1]);
  await new Promise((r) => setImmediate(r));
  expect(runs).toBe(2);
  release.shift()!();
  expect(await fresh).toBe(2);
  const after = shared.current(); // nothing under way: a new run, no result kept from before
  expect(runs).toBe(3);
  release.shift()!();
  expect(await after).toBe(3);
});
