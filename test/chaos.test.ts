import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobsRunTwice } from '../chaos/checks.js';
import type { LogLine } from '../chaos/instances.js';
import { planFaults } from '../chaos/schedule.js';

// The short variant of `npm run chaos` (issue 12, item 7), on by default: 1 minute of faults
// (about 2 minutes with start-up, settling and the end-of-run restores) with seed 127.
// CHAOS_TEST_MINUTES sets its length (0 turns it off), CHAOS_TEST_SEED its seed.
const MINUTES = Number(process.env.CHAOS_TEST_MINUTES ?? 1);
const SEED = Number(process.env.CHAOS_TEST_SEED ?? 127);
const ROOT = resolve(import.meta.dirname, '..');

const line = (instance: number, incarnation: number, time: number, msg: string, attempt?: number): LogLine => ({
  instance,
  incarnation,
  time,
  msg,
  job: 'j1',
  ...(attempt !== undefined && { attempt }),
});

describe('the chaos run', () => {
  it('plans the same faults for the same seed, both infrastructure kinds, never two nodes at once', () => {
    const shape = { warmupMs: 10_000, untilMs: 80_000, instances: 3, natsNodes: 3 };
    expect(planFaults(7, shape)).toEqual(planFaults(7, shape));
    expect(planFaults(7, shape)).not.toEqual(planFaults(8, shape));
    const infra = planFaults(7, shape).filter((f) => f.lane === 'infra');
    expect(new Set(infra.map((f) => f.kind))).toEqual(new Set(['kill-nats', 'restart-mariadb']));
    for (let i = 1; i < infra.length; i++) expect(infra[i]!.atMs).toBeGreaterThan(infra[i - 1]!.atMs + infra[i - 1]!.downMs);
  });

  it('tells a redelivery after a crash from a job run twice', () => {
    const exits = [{ instance: 0, incarnation: 1, at: 1_000, how: 'killed' as const, code: null }];
    // Killed mid-job, redelivered after the ack wait: once.
    expect(jobsRunTwice([line(0, 1, 500, 'job started', 1), line(1, 1, 7_000, 'job started', 2), line(1, 1, 8_000, 'job done')], exits, 9_000)).toEqual([]);
    // A second run while the first still ran (no exit, no end yet): twice.
    expect(jobsRunTwice([line(0, 2, 500, 'job started', 1), line(1, 1, 700, 'job started', 2), line(1, 1, 800, 'job done')], exits, 9_000)).toHaveLength(1);
    // Tables swapped in by two attempts: completed twice, even one after the other.
    expect(jobsRunTwice([line(0, 1, 500, 'job started', 1), line(0, 1, 900, 'tables swapped in'), line(1, 1, 7_000, 'job started', 2), line(1, 1, 7_500, 'tables swapped in')], exits, 9_000)).toHaveLength(1);
  });

  it.skipIf(MINUTES <= 0)(`loses no job, runs none twice, and every archive and restore is exact, through ${MINUTES} min of kills`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/run.ts', '--minutes', String(MINUTES), '--seed', String(SEED)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
    const last = output.trim().split('\n').pop() ?? '';
    const verdict = JSON.parse(last) as Record<string, number>;
    expect(Object.keys(verdict)).toEqual(['requested', 'done', 'failed', 'lost', 'runTwice', 'wrongArchives', 'wrongChecksums', 'leftovers', 'longestUnansweredMs']);
    expect(verdict.requested, output).toBeGreaterThan(0);
    expect({ lost: verdict.lost, runTwice: verdict.runTwice, wrongArchives: verdict.wrongArchives, wrongChecksums: verdict.wrongChecksums, leftovers: verdict.leftovers }, output).toEqual({
      lost: 0,
      runTwice: 0,
      wrongArchives: 0,
      wrongChecksums: 0,
      leftovers: 0,
    });
    expect(code, output).toBe(0);
  }, (MINUTES + 11) * 60_000);
});
