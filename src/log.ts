import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may hold secrets anywhere in a log object; pino replaces their values. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'mysql.password',
  'config.mysql.password',
  'token',
  '*.token',
  'pass',
  '*.pass',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'nats-mysql-tables-backup' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}
