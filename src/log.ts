import { pino, type Logger } from 'pino';

export type { Logger };

const CENSOR = '[redacted]';

/**
 * Field names whose values are secrets, wherever they appear in a logged object (any depth, any
 * case): passwords, tokens, nkey seeds, JWTs, private keys. `*File` paths (`keyFile`,
 * `credsFile`, `seedFile`) are not secrets and stay.
 */
const SECRET_KEY = /^(pass|passwd|key|nkey|creds|secret|authorization|auth|jwt|privatekey|private_key)$|(password|passphrase|token|seed|secret)$/i;

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

const MAX_DEPTH = 10;

/**
 * A copy of `value` with every secret field's value replaced by "[redacted]". The caller's object
 * is never changed; parts without secrets are shared, not copied. Errors are walked like objects
 * (their own fields: mysql2 and NATS errors carry extra ones) and keep their message and stack.
 */
function redactSecrets<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (seen.has(value) || ArrayBuffer.isView(value) || value instanceof Date) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let changed = false;
    const copy = value.map((item) => {
      const walked = walk(item, depth + 1, seen);
      if (walked !== item) changed = true;
      return walked;
    });
    return changed ? copy : value;
  }
  let copy: Record<string, unknown> | null = null;
  for (const [key, item] of Object.entries(value)) {
    const walked = isSecretKey(key) && item !== undefined && item !== null && item !== '' ? CENSOR : walk(item, depth + 1, seen);
    if (walked !== item) {
      copy ??= value instanceof Error ? errorAsObject(value) : { ...value };
      copy[key] = walked;
    }
  }
  if (value instanceof Error && value.cause !== undefined) {
    const cause = walk(value.cause, depth + 1, seen);
    if (cause !== value.cause) {
      copy ??= errorAsObject(value);
      copy.cause = cause;
    }
  }
  return copy ?? value;
}

/** An error as pino's serializer would write it, as a plain object we may change. */
function errorAsObject(err: Error): Record<string, unknown> {
  return { ...(pino.stdSerializers.err(err) as unknown as Record<string, unknown>) };
}

/** Keys whose values pino's error serializer writes (and our wrapper of it redacts). */
const ERROR_KEYS = new Set(['err', 'error']);

/** A logged object, redacted; errors under `err`/`error` are left to the (redacting) serializer. */
function redactLogObject(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(object)) {
    if (ERROR_KEYS.has(key) && value instanceof Error) continue;
    const walked = isSecretKey(key) && value !== undefined && value !== null && value !== '' ? CENSOR : redactSecrets(value);
    if (walked !== value) (copy ??= { ...object })[key] = walked;
  }
  return copy ?? object;
}

const serializeError = (err: unknown) => (err instanceof Error ? redactSecrets(pino.stdSerializers.err(err)) : redactSecrets(err));

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'nats-mysql-tables-backup' },
      // Every logged object goes through the redaction: the config dump at start, errors (after
      // pino's serializer, with their causes), anything else.
      formatters: { log: redactLogObject },
      serializers: { err: serializeError, error: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
  // pino formats a child's bindings without the formatters above: redact them on the way in.
  // Children inherit this `child` (pino makes them with Object.create), so grandchildren too.
  type ChildFn = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const child = logger.child as unknown as ChildFn;
  const redactingChild: ChildFn = function (bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  };
  logger.child = redactingChild as unknown as Logger['child'];
  return logger;
}
