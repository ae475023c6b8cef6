/**
 * Names that arrive in requests, validated once at the edge into branded types the inner
 * modules trust. Validation here is syntactic; whether a table exists is asked of the server.
 */
export type TableName = string & { readonly __brand: 'TableName' };
export type ArchiveName = string & { readonly __brand: 'ArchiveName' };

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const MAX_TABLE_NAME_CHARS = 64;
const MAX_ARCHIVE_NAME_BYTES = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A MySQL table name that can also be an archive entry `<name>.sql`. */
export function checkTableName(raw: string): Checked<TableName> {
  const name = raw;
  if (name === '') return { ok: false, reason: 'empty table name' };
  if ([...name].length > MAX_TABLE_NAME_CHARS) return { ok: false, reason: `table name longer than ${MAX_TABLE_NAME_CHARS} characters` };
  if (CONTROL.test(name)) return { ok: false, reason: `table name ${JSON.stringify(name)} holds a control character` };
  if (name.includes('/') || name.includes('\\')) return { ok: false, reason: `table name ${JSON.stringify(name)} holds a path separator` };
  if (name.startsWith('.')) return { ok: false, reason: `table name ${JSON.stringify(name)} starts with a dot` };
  if (name.endsWith(' ')) return { ok: false, reason: `table name ${JSON.stringify(name)} ends with a space` };
  if (!isWellFormed(name)) return { ok: false, reason: 'table name is not valid Unicode' };
  return { ok: true, value: name as TableName };
}

export type DatabaseName = string & { readonly __brand: 'DatabaseName' };

/** Schemas the server owns: a restore never writes into them. */
const SYSTEM_DATABASES = new Set(['information_schema', 'performance_schema', 'mysql', 'sys']);

/**
 * A database (schema) a restore may write into: a table name's rules, and neither a system schema
 * nor one of the service's own scratch names (`_nmtb_…`).
 */
export function checkDatabaseName(raw: string): Checked<DatabaseName> {
  const checked = checkTableName(raw);
  if (!checked.ok) return { ok: false, reason: checked.reason.replace('table name', 'database name') };
  if (SYSTEM_DATABASES.has(raw.toLowerCase())) return { ok: false, reason: `database ${JSON.stringify(raw)} is a system schema` };
  if (isServiceName(raw)) return { ok: false, reason: `database name ${JSON.stringify(raw)} starts with _nmtb_, which the service keeps for its own work` };
  return { ok: true, value: raw as DatabaseName };
}

/** The prefix of the service's scratch schemas and set-aside tables. */
export function isServiceName(name: string): boolean {
  return name.toLowerCase().startsWith('_nmtb_');
}

/** A plain file name inside BACKUP_DIR: never a path, never hidden, never `..`. */
export function checkArchiveName(raw: string): Checked<ArchiveName> {
  const name = raw;
  if (name === '') return { ok: false, reason: 'empty archive name' };
  if (Buffer.byteLength(name) > MAX_ARCHIVE_NAME_BYTES) return { ok: false, reason: 'archive name is too long' };
  if (CONTROL.test(name)) return { ok: false, reason: 'archive name holds a control character or NUL' };
  if (name.includes('/') || name.includes('\\')) return { ok: false, reason: 'archive name must be a plain file name, without a path' };
  if (name.includes('..')) return { ok: false, reason: 'archive name must not contain ".."' };
  if (name.startsWith('.')) return { ok: false, reason: 'archive name must not start with a dot' };
  if (!isWellFormed(name)) return { ok: false, reason: 'archive name is not valid Unicode' };
  return { ok: true, value: name as ArchiveName };
}

/** The archive entry that holds a table's dump. */
export function entryNameOf(table: TableName): string {
  return `${table}.sql`;
}

function isWellFormed(text: string): boolean {
  // Lone surrogates (from invalid UTF-8 decoded with replacement, or crafted \ud800) and U+FFFD.
  return !/[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')) && !text.includes('\ufffd');
}
