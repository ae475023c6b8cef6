import { ServiceError } from './errors.js';

/**
 * A failure that retrying cannot mend (a table or archive gone): the job ends at once. The job
 * runtime asks only `retryable`; this class stays for the throw sites that still use it.
 */
export class PermanentJobError extends ServiceError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('conflict', message, { cause: options.cause, retryable: false });
    this.name = 'PermanentJobError';
  }
}
