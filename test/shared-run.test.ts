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

it('recent() answers from a run that ended within the age given, else from the run under way or a new one', async () => {
  let runs = 0;
  const release: (() => void)[] = [];
  const shared = new SharedRun(async () => {
    const n = ++runs;
    await new Promise<void>((r) => release.push(r));
    return n;
  });
  const first = shared.recent(1_000);
  const joined = shared.recent(1_000); // the run under way, though it began before this call
  expect(runs).toBe(1);
  release.shift()!();
  expect([await first, await joined]).toEqual([1, 1]);
  expect(await shared.recent(60_000)).toBe(1); // no new run while the last result is young enough
  expect(runs).toBe(1);
  await new Promise((r) => setTimeout(r, 5));
  const stale = shared.recent(1);
  expect(runs).toBe(2);
  release.shift()!();
  expect(await stale).toBe(2);
});
