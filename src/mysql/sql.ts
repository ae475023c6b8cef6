/** Quoting of identifiers and values for SQL text the service writes itself. */

export function quoteIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new Error('an identifier cannot contain NUL');
  return '`' + name.replaceAll('`', '``') + '`';
}

/** A string literal safe under any sql_mode (including NO_BACKSLASH_ESCAPES): no backslashes used. */
export function quoteString(value: string): string {
  if (value.includes('\\')) {
    // CONCAT of pieces keeps a backslash literal whatever the sql_mode says about escapes.
    return 'CONCAT(' + value.split('\\').map((piece) => quoteString(piece)).join(", CHAR(92), ") + ')';
  }
  return "'" + value.replaceAll("'", "''") + "'";
}
