import type { RowDataPacket } from 'mysql2/promise';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { Connection } from './connection.js';

/**
 * What swapping tables into a database takes: `RENAME TABLE` needs CREATE and INSERT on the new
 * name, ALTER and DROP on the one set aside; the old copy is dropped; foreign keys are added back
 * (ALTER; REFERENCES on MySQL 8) and triggers created (TRIGGER).
 */
const TARGET_PRIVILEGES = ['CREATE', 'DROP', 'ALTER', 'INSERT', 'REFERENCES', 'TRIGGER'] as const;

/**
 * Whether `database` exists and the connection's user may restore into it, from
 * information_schema (the same on MySQL 8 and MariaDB): the user's global privileges and those of
 * the one schema grant that applies. As the server does, only the most specific matching grant
 * counts: the name itself before a pattern (`` `st\_%` ``), and grants are not added up.
 * Privileges that come through roles are not seen there: they count as missing. Throws
 * NotFoundError (no such database, or no privilege at all on it) or ForbiddenError.
 */
export async function checkTargetDatabase(conn: Connection, database: string): Promise<void> {
  const [schemas] = await conn.query<RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
  // The comparison may ignore case (lower_case_table_names); the name must match exactly.
  if (!schemas.some((row) => String(row.name) === database)) {
    throw new NotFoundError(`database ${database} not found (or the service's MySQL user has no privilege on it at all)`);
  }
  const [users] = await conn.query<RowDataPacket[]>('SELECT CURRENT_USER() AS user');
  const account = String(users[0]?.user ?? '');
  const at = account.lastIndexOf('@');
  const grantee = `'${account.slice(0, at)}'@'${account.slice(at + 1)}'`;
  const [global] = await conn.query<RowDataPacket[]>('SELECT PRIVILEGE_TYPE AS privilege FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?', [grantee]);
  const [schemaGrants] = await conn.query<RowDataPacket[]>(
    'SELECT TABLE_SCHEMA AS pattern, PRIVILEGE_TYPE AS privilege FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?',
    [grantee],
  );
  const granted = new Set(global.map((row) => String(row.privilege).toUpperCase()));
  const pattern = applicableGrant(schemaGrants.map((row) => String(row.pattern)), database);
  for (const row of schemaGrants) if (String(row.pattern) === pattern) granted.add(String(row.privilege).toUpperCase());
  const missing = TARGET_PRIVILEGES.filter((privilege) => !granted.has(privilege));
  if (missing.length === 0) return;
  throw new ForbiddenError(
    `the service's MySQL user ${account} may not restore into database ${database}: it lacks ${missing.join(', ')} there ` +
      `(needed: GRANT ${TARGET_PRIVILEGES.join(', ')} ON \`${database.replaceAll('`', '``')}\`.* TO the user; privileges of roles are not counted)`,
  );
}

/**
 * The schema grant the server applies to `database`: one that spells the name (an unescaped `_`
 * matches itself too: MariaDB 10.11 was seen to prefer `` `a_b` `` over `` `a\_%` `` for `a_b`),
 * else the matching pattern with the longest literal start.
 */
export function applicableGrant(patterns: string[], database: string): string | undefined {
  let best: { pattern: string; exact: boolean; prefix: number } | undefined;
  for (const pattern of new Set(patterns)) {
    const like = likePattern(pattern);
    if (!like.regex.test(database)) continue;
    const candidate = { pattern, exact: like.literal === database, prefix: like.literalPrefix };
    if (!best || (candidate.exact && !best.exact) || (candidate.exact === best.exact && candidate.prefix > best.prefix)) best = candidate;
  }
  return best?.pattern;
}

/** A grant's schema as the LIKE pattern it is (`%`, `_`, `\` escapes). */
function likePattern(pattern: string): { regex: RegExp; literal: string; literalPrefix: number } {
  let source = '';
  let literal = '';
  let wildcard = false;
  let literalPrefix = 0;
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    let c = chars[i] as string;
    const escaped = c === '\\' && i + 1 < chars.length;
    if (escaped) c = chars[++i] as string;
    literal += c;
    if (!escaped && (c === '%' || c === '_')) {
      source += c === '%' ? '[\\s\\S]*' : '[\\s\\S]';
      wildcard = true;
      continue;
    }
    source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (!wildcard) literalPrefix++;
  }
  return { regex: new RegExp(`^${source}$`, 'u'), literal, literalPrefix };
}
