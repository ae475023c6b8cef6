/**
 * The service's one error model. Every failure a caller or a job can meet is one of these kinds;
 * `api/` maps a kind to its reply (the seed's body, `Nats-Service-Error(-Code)`), the job
 * runtime asks `retryable` whether another attempt may help. Anything else thrown is internal.
 */
export type ErrorKind = 'bad-request' | 'forbidden' | 'not-found' | 'conflict' | 'too-large' | 'unavailable' | 'internal';

export interface ServiceErrorOptions {
  cause?: unknown;
  /** Whether another attempt may succeed; by default only `unavailable` is. */
  retryable?: boolean;
}

export class ServiceError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: ServiceErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServiceError';
    this.retryable = options.retryable ?? kind === 'unavailable';
  }
}

/** The request itself is wrong (malformed, a bad name): the same request always fails. */
export class BadRequestError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('bad-request', message, options);
    this.name = 'BadRequestError';
  }
}

/** The service's own privileges do not allow it (a target database it may not write). */
export class ForbiddenError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('forbidden', message, options);
    this.name = 'ForbiddenError';
  }
}

/** A table, an archive or a job that does not exist. */
export class NotFoundError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('not-found', message, options);
    this.name = 'NotFoundError';
  }
}

/** It exists but cannot be used as asked (an unreadable archive, two copies that differ, a clash). */
export class ConflictError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('conflict', message, options);
    this.name = 'ConflictError';
  }
}

/** The answer would not fit the server's max_payload. */
export class TooLargeError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('too-large', message, options);
    this.name = 'TooLargeError';
  }
}

/** Something the service depends on (MySQL, JetStream, 7-Zip) cannot be reached now. */
export class UnavailableError extends ServiceError {
  constructor(message: string, options?: ServiceErrorOptions) {
    super('unavailable', message, options);
    this.name = 'UnavailableError';
  }
}

export function errorKindOf(err: unknown): ErrorKind {
  return err instanceof ServiceError ? err.kind : 'internal';
}
