/** The CLI's exit codes (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The job failed, or the service refused the request (its reason is printed). */
  failed: 1,
  /** Bad arguments or settings: nothing was sent. */
  usage: 2,
  /** No service answered (no responders, a timeout), or NATS could not be reached. */
  unreachable: 3,
} as const;

/** An error that ends the CLI with its exit code and a one-line message on stderr. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(EXIT.usage, message);
