/**
 * Runs `work` for concurrent callers at most once at a time, and never hands a caller the result
 * of a run that began before it asked (that run may not see what the caller just did): a caller
 * arriving during a run waits for the next one, which every caller arriving meanwhile shares.
 * So 100 callers at once cost two runs, not 100, and each sees a state at least as new as its call.
 * A caller to whom a state from just before its call is as good asks for `current()` instead.
 */
export class SharedRun<T> {
  private running: Promise<T> | null = null;
  private next: Promise<T> | null = null;

  constructor(private readonly work: () => Promise<T>) {}

  run(): Promise<T> {
    if (!this.running) {
      const run = this.work().finally(() => {
        if (this.running === run) this.running = null;
      });
      this.running = run;
      return run;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.run();
      });
    return this.next;
  }

  /** The run under way, though it began before the call, or a new one. */
  current(): Promise<T> {
    return this.running ?? this.run();
  }
}
