/**
 * Runs `work` for concurrent callers at most once at a time, and never hands a caller the result
 * of a run that began before it asked (that run may not see what the caller just did): a caller
 * arriving during a run waits for the next one, which every caller arriving meanwhile shares.
 * So 100 callers at once cost two runs, not 100, and each sees a state at least as new as its call.
 * A caller to whom an older state is as good asks for `recent()` instead.
 */
export class SharedRun<T> {
  private running: Promise<T> | null = null;
  private next: Promise<T> | null = null;
  private last: { value: T; endedAt: number } | null = null;

  constructor(private readonly work: () => Promise<T>) {}

  run(): Promise<T> {
    if (!this.running) {
      const run = this.work()
        .then((value) => {
          this.last = { value, endedAt: Date.now() };
          return value;
        })
        .finally(() => {
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

  /** The result of a run that ended at most `maxAgeMs` ago, or of the run under way, or a new run's. */
  recent(maxAgeMs: number): Promise<T> {
    if (this.last && Date.now() - this.last.endedAt <= maxAgeMs) return Promise.resolve(this.last.value);
    return this.running ?? this.run();
  }
}
