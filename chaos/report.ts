/** The figures of a chaos run: what is printed, and the JSON line that ends the output. */
import type { ArchiveProblem } from './checks.js';
import type { ChaosOptions } from './chaos.js';
import type { Requester } from './client.js';
import type { DoneFault } from './faults.js';
import type { Exit } from './instances.js';
import type { VerifyOutcome } from './verify.js';
import type { TrackedJob } from './workload.js';
import type { Writer } from './writer.js';

/** The last line: these keys, in this order. */
interface Verdict {
  requested: number;
  done: number;
  failed: number;
  lost: number;
  runTwice: number;
  wrongArchives: number;
  wrongChecksums: number;
  leftovers: number;
  longestUnansweredMs: number;
}

export interface Figures {
  verdict: Verdict;
  passed: boolean;
  lines: string[];
}

export interface RunOutcome {
  options: ChaosOptions;
  jobs: TrackedJob[];
  faults: DoneFault[];
  exits: Exit[];
  writer: Writer;
  runTwice: { job: string; why: string }[];
  archives: { problems: ArchiveProblem[]; checked: number; digestMismatches: number };
  verified: VerifyOutcome;
  beforeRestart: string[];
  afterRestart: string[];
  requester: Requester;
  refusals: Map<string, number>;
}

/** A reason without the names and numbers that make every one different. */
const general = (reason: string) =>
  reason
    .replace(/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-backup(-\d+)?\.7z/g, '<archive>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<job>')
    .replace(/attempt \d+/g, 'attempt N');

function counted(items: string[]): string[] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([item, n]) => `${n} × ${item}`);
}

export function summarize(run: RunOutcome): Figures {
  const jobs = run.jobs;
  const done = jobs.filter((j) => j.state?.status === 'done');
  const failed = jobs.filter((j) => j.state?.status === 'failed');
  const lost = jobs.filter((j) => j.state?.status !== 'done' && j.state?.status !== 'failed');
  const wrongArchives = new Set(run.archives.problems.map((p) => p.archive)).size;
  const wrongChecksums = run.writer.mismatches.length + run.verified.wrong.length;
  const verdict: Verdict = {
    requested: jobs.length,
    done: done.length,
    failed: failed.length,
    lost: lost.length,
    runTwice: new Set(run.runTwice.map((r) => r.job)).size,
    wrongArchives,
    wrongChecksums,
    leftovers: run.afterRestart.length,
    longestUnansweredMs: run.requester.longest(),
  };
  const passed = verdict.lost === 0 && verdict.runTwice === 0 && verdict.wrongArchives === 0 && verdict.wrongChecksums === 0 && verdict.leftovers === 0;
  const kinds = (list: TrackedJob[]) => `${list.filter((j) => j.kind === 'backup').length} backups, ${list.filter((j) => j.kind === 'restore').length} restores`;
  const faultKinds = counted(run.faults.map((f) => f.fault.kind + (f.error ? ' (its restart failed)' : '')));
  const outages = run.faults.map((f) => f.outageMs);
  const lines = [
    '',
    `== chaos run: ${run.options.minutes} min, seed ${run.options.seed} ==`,
    `faults: ${run.faults.length} (${faultKinds.join(', ')}); longest outage ${Math.max(0, ...outages)} ms`,
    `instances that exited by themselves: ${run.exits.filter((e) => e.how === 'exited').length}${run.exits.filter((e) => e.how === 'exited').map((e) => ` [instance ${e.instance}.${e.incarnation} code ${e.code}]`).join('')}`,
    `writer: ${run.writer.committed} transactions committed, ${run.writer.failed} failed (MariaDB restarts), ${run.writer.known.size} table contents known`,
    `jobs requested (accepted with "ok"): ${verdict.requested} (${kinds(jobs)})`,
    `  done: ${verdict.done} (${kinds(done)})`,
    `  failed: ${verdict.failed}${failed.length ? '' : ' —'}`,
    ...counted(failed.map((j) => `${j.kind}: ${general(j.state?.reason ?? 'no reason')}`)).map((l) => `    ${l}`),
    `  lost (not ended, or unknown to status): ${verdict.lost}`,
    ...lost.map((j) => `    ${j.kind} ${j.id} ${j.archive}: last seen ${j.state?.status ?? (j.unknown ? '404' : 'never')}`),
    `refused requests (not jobs): ${[...run.refusals.values()].reduce((a, b) => a + b, 0)}`,
    ...[...run.refusals].map(([reason, n]) => `    ${n} × ${reason}`),
    `run twice: ${verdict.runTwice}`,
    ...run.runTwice.map((r) => `    ${r.job}: ${r.why}`),
    `archives checked: ${run.archives.checked}; not at their promised name or differing: ${wrongArchives} (object digest differs: ${run.archives.digestMismatches})`,
    ...run.archives.problems.map((p) => `    ${p.archive} (job ${p.job}): ${p.problem}`),
    `restored tables compared with their snapshot: ${run.verified.tables} tables of ${run.verified.archives} archives restored at the end, plus the live tables before each of the writer's transactions`,
    `  checksum differs: ${wrongChecksums} (live ${run.writer.mismatches.length}, end-of-run ${run.verified.wrong.length})`,
    ...run.writer.mismatches.slice(0, 20).map((m) => `    ${m.table} (${m.where}, generation ${m.generation}): ${m.found}, expected ${m.expected ?? 'no known content'}`),
    ...run.verified.wrong.map((w) => `    ${w.archive} ${w.table}: ${w.problem}`),
    `  archives not restored at the end: ${run.verified.unrestored.length}`,
    ...counted(run.verified.unrestored.map((u) => general(u.reason))).map((l) => `    ${l}`),
    `leftovers once every job ended: ${run.beforeRestart.length}; after each instance started once more: ${run.afterRestart.length}`,
    ...run.beforeRestart.map((l) => `    before: ${l}`),
    ...run.afterRestart.map((l) => `    after: ${l}`),
    `longest unanswered request: ${verdict.longestUnansweredMs} ms (${[...run.requester.longestMs].map(([s, ms]) => `${s} ${ms}`).join(', ')}); given up: ${run.requester.unanswered}`,
    passed ? 'PASS' : 'FAIL',
  ];
  return { verdict, passed, lines };
}
