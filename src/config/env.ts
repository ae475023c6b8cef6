/**
 * Reading the environment: plain values, secrets (directly or from a file), paths of files that
 * must be readable. Problems are added to `errors`, naming the variable, never a secret.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export type Env = Record<string, string | undefined>;

/** The trimmed value of `key`, or `fallback` when it is unset or blank. */
export function text(env: Env, key: string, fallback: string): string {
  const value = env[key];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

/** Variables whose values are secrets (the `_FILE` variants hold paths, and stay). */
const SECRET_VARIABLES = ['MYSQL_PASSWORD', 'NATS_PASSWORD', 'NATS_TOKEN', 'ARCHIVE_PASSWORD'];

/**
 * Once read, secrets leave the process environment: child processes (7-Zip) inherit it, and
 * their /proc/<pid>/environ must not hold a password. (The service's own /proc/<pid>/environ keeps
 * what it was started with: that is the launcher's business, and readable only by its user.)
 */
export function forgetSecrets(env: Env): void {
  for (const key of SECRET_VARIABLES) delete env[key];
  const url = env.MYSQL_URL;
  if (url !== undefined && /^[^/]*:\/\/[^/@]*:[^/@]*@/.test(url)) delete env.MYSQL_URL;
}

/**
 * A secret from `KEY` or from the file named by `KEY_FILE` (docker secrets), one trailing newline
 * dropped. Both set is an error; an empty value counts as unset. Messages name the variable, never
 * the value.
 */
export function secret(env: Env, key: string, errors: string[]): string | undefined {
  const direct = env[key];
  const file = env[`${key}_FILE`]?.trim();
  if (direct !== undefined && direct !== '' && file) {
    errors.push(`set ${key} or ${key}_FILE, not both`);
    return undefined;
  }
  if (direct !== undefined && direct !== '') return direct;
  if (!file) return undefined;
  try {
    const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (value === '') errors.push(`${key}_FILE (${file}) is empty`);
    return value === '' ? undefined : value;
  } catch (err) {
    errors.push(`${key}_FILE cannot be read: ${describeFsError(err)}`);
    return undefined;
  }
}

/** The path in `key`, checked readable (and by `check`, which gets the contents), or undefined. */
export function readablePath(env: Env, key: string, errors: string[], check?: (contents: Buffer) => string | null): string | undefined {
  const path = env[key]?.trim();
  if (!path) return undefined;
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (err) {
    errors.push(`${key} cannot be read: ${describeFsError(err)}`);
    return undefined;
  }
  const problem = check?.(contents) ?? null;
  if (problem !== null) errors.push(`${key} (${path}) ${problem}`);
  return resolve(path);
}

/** An fs error as "ENOENT: no such file or directory, open '/path'": paths only, no contents. */
function describeFsError(err: unknown): string {
  return (err as Error).message;
}

/** A readablePath check: the file holds PEM text (`what` names it in the message). */
export const PEM = (what: string) => (contents: Buffer) => (contents.toString('utf8').includes('-----BEGIN ') ? null : `is not a PEM ${what}`);
