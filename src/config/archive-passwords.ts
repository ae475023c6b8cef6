/** The archive passwords from the environment: ARCHIVE_PASSWORD(_FILE) or ARCHIVE_PASSWORDS_FILE. */
import { readFileSync } from 'node:fs';
import { secret, type Env } from './env.js';

/**
 * The passwords new archives are encrypted with (the first) and archives are opened with (each in
 * turn, so a rotated-out password still opens the archives made under it). Empty: no encryption.
 * ARCHIVE_PASSWORDS_FILE holds one password per line, the current one first; blank lines are skipped.
 */
export function archivePasswordsFrom(env: Env, errors: string[]): string[] {
  const one = secret(env, 'ARCHIVE_PASSWORD', errors);
  const listFile = env.ARCHIVE_PASSWORDS_FILE?.trim();
  if (one !== undefined && listFile) {
    errors.push('set ARCHIVE_PASSWORD (or ARCHIVE_PASSWORD_FILE) or ARCHIVE_PASSWORDS_FILE, not both');
    return [];
  }
  if (one !== undefined) {
    if (/[\r\n]/.test(one)) errors.push('ARCHIVE_PASSWORD must be one line');
    return [one];
  }
  if (!listFile) return [];
  let lines: string[];
  try {
    lines = readFileSync(listFile, 'utf8').split(/\r?\n/).filter((line) => line !== '');
  } catch (err) {
    errors.push(`ARCHIVE_PASSWORDS_FILE cannot be read: ${(err as Error).message}`);
    return [];
  }
  if (lines.length === 0) errors.push(`ARCHIVE_PASSWORDS_FILE (${listFile}) holds no password`);
  return lines;
}
