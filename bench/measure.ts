// Timing, child processes with files as stdin/stdout, file sizes, and peak RSS.
import { spawn } from 'node:child_process';
import { openSync, closeSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const started = performance.now();
  const result = await fn();
  return { seconds: (performance.now() - started) / 1000, result };
}

/**
 * Runs `measure` `times` times, one after another, and returns the run whose `seconds(run)` is the
 * median. Timings on a shared VM swing by a third from one minute to the next: one run is not a figure.
 */
export async function medianOf<T>(times: number, label: string, measure: () => Promise<T>, seconds: (run: T) => number): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < times; i++) runs.push(await measure());
  const sorted = [...runs].sort((a, b) => seconds(a) - seconds(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as T;
  if (times > 1) console.log(`  ${label}: ${runs.map((r) => seconds(r).toFixed(2)).join(', ')} s; median ${seconds(median).toFixed(2)} s`);
  return median;
}

export interface RunOptions {
  /** File to read stdin from. */
  stdin?: string;
  /** File to write stdout to (truncated); otherwise stdout is kept for the error message. */
  stdout?: string;
  cwd?: string;
}

/** Runs a command to completion; rejects with its output's tail when it exits non-zero. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<void> {
  const fds: number[] = [];
  const fd = (path: string | undefined, flags: string): number | 'ignore' => {
    if (path === undefined) return 'ignore';
    const n = openSync(path, flags);
    fds.push(n);
    return n;
  };
  return new Promise<void>((resolve, reject) => {
    const stdout = opts.stdout === undefined ? 'pipe' : fd(opts.stdout, 'w');
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [fd(opts.stdin, 'r'), stdout, 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${output.trim()}`));
    });
  }).finally(() => fds.forEach((n) => closeSync(n)));
}

export const fileSize = (path: string): number => statSync(path).size;

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
