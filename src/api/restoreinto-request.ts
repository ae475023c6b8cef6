import {
  checkArchiveName,
  checkDatabaseName,
  checkTableName,
  isServiceName,
  type ArchiveName,
  type DatabaseName,
  type TableName,
} from '../names.js';
import { jsonObjectBody } from './json-body.js';
import { badRequest, MAX_TABLES_PER_REQUEST, type Parsed, type RequestParts } from './request.js';

/** `<p>.restoreinto`: tables of an archive into another database, under other names, or both. */
export interface RestoreIntoRequest {
  archive: ArchiveName;
  tables: TableName[];
  database?: DatabaseName;
  /** Archive table → its new name; only tables that get one. */
  rename?: Record<string, TableName>;
}

const KEYS = ['archive', 'tables', 'database', 'rename'];
const SHAPE = '{"archive": "<name>.7z", "tables": ["t1", …], "database": "<db>", "rename": {"t1": "<new name>"}}';

/**
 * The JSON body (headers carry nothing here). Everything that can be checked without the server
 * is: types, unknown keys, names, duplicates, and that the new names are distinct.
 */
export function parseRestoreIntoRequest(req: RequestParts): Parsed<RestoreIntoRequest> {
  const parsed = jsonObjectBody(req, 'restoreinto', KEYS, SHAPE);
  if (!parsed.ok) return parsed;
  const body = parsed.value;

  if (typeof body.archive !== 'string') return badRequest('"archive" must be a string: the archive\'s file name');
  const archive = checkArchiveName(body.archive.trim());
  if (!archive.ok) return badRequest(archive.reason);

  const tables = tableList(body.tables);
  if (!tables.ok) return tables;

  if (body.database === undefined && body.rename === undefined) {
    return badRequest('give "database", "rename" or both: without them this is a plain restore (the restore subject)');
  }
  let database: DatabaseName | undefined;
  if (body.database !== undefined) {
    if (typeof body.database !== 'string') return badRequest('"database" must be a string');
    const checked = checkDatabaseName(body.database);
    if (!checked.ok) return badRequest(checked.reason);
    database = checked.value;
  }
  let rename: Record<string, TableName> | undefined;
  if (body.rename !== undefined) {
    const checked = renames(body.rename, tables.value);
    if (!checked.ok) return checked;
    rename = checked.value;
  }
  return { ok: true, value: { archive: archive.value, tables: tables.value, ...(database !== undefined && { database }), ...(rename !== undefined && { rename }) } };
}

/** A non-empty list of distinct table names; each may end in `.sql`, as in `restore`. */
function tableList(value: unknown): Parsed<TableName[]> {
  if (!Array.isArray(value)) return badRequest('"tables" must be a list of table names');
  if (value.length === 0) return badRequest('"tables" is empty: name at least one table');
  if (value.length > MAX_TABLES_PER_REQUEST) return badRequest(`at most ${MAX_TABLES_PER_REQUEST} tables per request`);
  const tables: TableName[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'string') return badRequest('"tables" must hold only strings');
    const checked = checkTableName(withoutSqlSuffix(item.trim()));
    if (!checked.ok) return badRequest(checked.reason);
    if (tables.includes(checked.value)) return badRequest(`table ${JSON.stringify(checked.value)} is named twice`);
    tables.push(checked.value);
  }
  return { ok: true, value: tables };
}

/** `{"t1": "new"}`: each key a requested table, each new name a valid one, no two tables under one name. */
function renames(value: unknown, tables: TableName[]): Parsed<Record<string, TableName>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return badRequest('"rename" must be an object: {"<table>": "<new name>"}');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return badRequest('"rename" is empty: leave it out, or name a table and its new name');
  // No prototype: a table may be called __proto__.
  const rename = Object.create(null) as Record<string, TableName>;
  for (const [key, to] of entries) {
    const from = withoutSqlSuffix(key);
    if (!tables.includes(from as TableName)) return badRequest(`"rename" names ${JSON.stringify(key)}, which is not in "tables"`);
    if (Object.hasOwn(rename, from)) return badRequest(`"rename" names ${JSON.stringify(from)} twice`);
    if (typeof to !== 'string') return badRequest(`the new name of ${JSON.stringify(from)} must be a string`);
    const checked = checkTableName(to);
    if (!checked.ok) return badRequest(`the new name of ${JSON.stringify(from)}: ${checked.reason}`);
    if (checked.value === from) return badRequest(`"rename" gives ${JSON.stringify(from)} its own name`);
    if (isServiceName(checked.value)) return badRequest(`the new name ${JSON.stringify(checked.value)} starts with _nmtb_, which the service keeps for its own work`);
    rename[from] = checked.value;
  }
  const seen = new Map<string, TableName>();
  for (const table of tables) {
    const name = Object.hasOwn(rename, table) ? (rename[table] as TableName) : table;
    const other = seen.get(name);
    if (other !== undefined) return badRequest(`${JSON.stringify(other)} and ${JSON.stringify(table)} would both be restored as ${JSON.stringify(name)}`);
    seen.set(name, table);
  }
  return { ok: true, value: rename };
}

function withoutSqlSuffix(name: string): string {
  return name.endsWith('.sql') ? name.slice(0, -'.sql'.length) : name;
}
