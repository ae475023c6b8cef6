/**
 * The service instances of a chaos run: `src/main.ts` as child processes, each with its own
 * backup directory (as on separate machines), that the schedule SIGKILLs and starts again. Every
 * incarnation's JSON log goes to a file, and the lines the checks need are kept in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** The log lines the checks read (job life cycle); everything else stays in the log files only. */
const KEPT_MESSAGES = new Set([
  'job started',
  'job done',
  'job failed',
  'job attempt failed; it will be retried',
  'job interrupted; handing it back for redelivery',
  'job already finished; dropping the redelivery',
  'archive published',
  'an earlier attempt of this job published the archive; using it',
  'an earlier attempt of this job stored the archive; nothing left to do',
  'tables swapped in',
]);

export interface LogLine {
  instance: number;
  incarnation: number;
  time: number;
  msg: string;
  job?: string;
  attempt?: number;
}

/** When an incarnation ended (killed by the schedule, stopped, or exited by itself). */
export interface Exit {
  instance: number;
  incarnation: number;
  at: number;
  how: 'killed' | 'stopped' | 'exited';
  code: number | null;
}

const READY_TIMEOUT_MS = 90_000;

// However the run ends (a hard deadline, SIGINT, a crash), no instance outlives it.
const everyChild = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of everyChild) child.kill('SIGKILL');
});

export class ServiceInstance {
  readonly backupDir: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private incarnation = 0;
  /** Set while we stop or kill the child ourselves, so its exit is not taken for a crash. */
  private expectingExit = false;

  constructor(
    readonly index: number,
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    private readonly lines: LogLine[],
    private readonly exits: Exit[],
  ) {
    this.backupDir = env.BACKUP_DIR!;
    mkdirSync(this.backupDir, { recursive: true });
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Set by `close()`: no incarnation starts any more (a fault's restart racing the tear-down). */
  private closed = false;

  /** Spawns a new incarnation and waits for `service ready`; tries again if it exits before that. */
  async start(deadline = Date.now() + READY_TIMEOUT_MS): Promise<void> {
    for (;;) {
      if (this.closed) throw new Error(`instance ${this.index} is closed`);
      const ready = this.spawnOnce();
      try {
        await ready;
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private spawnOnce(): Promise<void> {
    const incarnation = ++this.incarnation;
    const log = createWriteStream(join(this.logDir, `instance${this.index}.${incarnation}.log`));
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.expectingExit = false;
    everyChild.add(child);
    let buffered = '';
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((ok, fail) => {
      onReady = ok;
      child.once('exit', (code, signal) => fail(new Error(`instance ${this.index} exited before it was ready (${code ?? signal})`)));
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      log.write(chunk);
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.take(text, incarnation, onReady);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => log.write(chunk));
    this.exited = new Promise((done) =>
      child.once('exit', (code) => {
        everyChild.delete(child);
        log.end();
        this.exits.push({ instance: this.index, incarnation, at: Date.now(), how: this.expectingExit ? (child.signalCode === 'SIGKILL' ? 'killed' : 'stopped') : 'exited', code });
        done();
      }),
    );
    // A failed start is retried by start(); the rejection is handled there or not at all.
    ready.catch(() => undefined);
    return ready;
  }

  private take(text: string, incarnation: number, onReady: () => void): void {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const msg = String(line.msg ?? '');
    if (msg === 'service ready') onReady();
    if (!KEPT_MESSAGES.has(msg)) return;
    this.lines.push({
      instance: this.index,
      incarnation,
      // pino's time is ISO text here (the service's logger), epoch ms with pino's default.
      time: typeof line.time === 'number' ? line.time : typeof line.time === 'string' ? Date.parse(line.time) : Date.now(),
      msg,
      ...(typeof line.job === 'string' && { job: line.job }),
      ...(typeof line.attempt === 'number' && { attempt: line.attempt }),
    });
  }

  /** SIGKILL, as a crash: no shutdown, no log flush. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.expectingExit = true;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** Stops the instance for good: a start still under way gives up. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    await this.stop(graceMs);
  }

  /** SIGTERM (the service drains), SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.running) return;
    this.expectingExit = true;
    const child = this.child!;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
