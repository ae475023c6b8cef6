import { checkArchiveName, checkTableName, type ArchiveName, type Checked, type TableName } from '../names.js';

/**
 * The seed's two request forms, parsed into typed values. Form 1 puts the arguments in headers
 * (any body); form 2 puts them in the body as `key=value` pairs.
 */
export interface RequestParts {
  body: string;
  /** Header lookup, case-insensitive; undefined when absent. */
  header(name: string): string | undefined;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: 400 | 404; reason: string };

export const MAX_TABLES_PER_REQUEST = 1000;

export function parseListRequest(req: RequestParts): Parsed<null> {
  if (req.body.trim() === 'listfiles') return { ok: true, value: null };
  return { ok: false, code: 400, reason: 'the body must be "listfiles"' };
}

export function parseBackupRequest(req: RequestParts): Parsed<TableName[]> {
  const header = req.header('tables');
  if (header !== undefined) return parseTableList(header, false);
  const value = bodyValue(req.body, 'makebackup');
  if (!value.ok) return value;
  return parseTableList(value.value, false);
}

export function parseArchiveRequest(req: RequestParts): Parsed<ArchiveName> {
  const header = req.header('archivename');
  if (header !== undefined) return archiveName(header);
  const value = bodyValue(req.body, 'archivename');
  if (!value.ok) return value;
  return archiveName(value.value);
}

export interface RestoreRequest {
  archive: ArchiveName;
  tables: TableName[];
}

export function parseRestoreRequest(req: RequestParts): Parsed<RestoreRequest> {
  const archiveHeader = req.header('archivename');
  const tablesHeader = req.header('tables');
  let archiveRaw: string;
  let tablesRaw: string;
  if (archiveHeader !== undefined || tablesHeader !== undefined) {
    if (archiveHeader === undefined || tablesHeader === undefined) {
      return bad('headers form needs both "archivename" and "tables"');
    }
    archiveRaw = archiveHeader;
    tablesRaw = tablesHeader;
  } else {
    const pairs = bodyPairs(req.body, ['archive', 'tables']);
    if (!pairs.ok) return pairs;
    archiveRaw = pairs.value.get('archive') ?? '';
    tablesRaw = pairs.value.get('tables') ?? '';
  }
  const archive = archiveName(archiveRaw);
  if (!archive.ok) return archive;
  const tables = parseTableList(tablesRaw, true);
  if (!tables.ok) return tables;
  return { ok: true, value: { archive: archive.value, tables: tables.value } };
}

/** `t1, t2,t3` → table names; in restore requests each may end in `.sql`. */
export function parseTableList(raw: string, allowSqlSuffix: boolean): Parsed<TableName[]> {
  const items = raw.split(',').map((item) => item.trim());
  if (items.length > MAX_TABLES_PER_REQUEST) return bad(`at most ${MAX_TABLES_PER_REQUEST} tables per request`);
  const tables: TableName[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const name = allowSqlSuffix && item.endsWith('.sql') ? item.slice(0, -'.sql'.length) : item;
    const checked: Checked<TableName> = checkTableName(name);
    if (!checked.ok) return bad(item === '' ? 'empty table name in the list' : checked.reason);
    if (seen.has(checked.value)) return bad(`table ${JSON.stringify(checked.value)} is named twice`);
    seen.add(checked.value);
    tables.push(checked.value);
  }
  return { ok: true, value: tables };
}

function archiveName(raw: string): Parsed<ArchiveName> {
  const checked = checkArchiveName(raw.trim());
  return checked.ok ? checked : bad(checked.reason);
}

/** The body `key=value` (one pair). */
function bodyValue(body: string, key: string): Parsed<string> {
  const pairs = bodyPairs(body, [key]);
  if (!pairs.ok) return pairs;
  return { ok: true, value: pairs.value.get(key) ?? '' };
}

/** The body `k1=v1;k2=v2` with exactly the expected keys, each once. */
function bodyPairs(body: string, keys: string[]): Parsed<Map<string, string>> {
  const expected = keys.map((k) => `${k}=…`).join(';');
  const text = body.trim();
  if (text === '') return bad(`empty request: expected headers or the body "${expected}"`);
  const pairs = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) return bad(`malformed body: expected "${expected}"`);
    const key = part.slice(0, eq).trim();
    if (!keys.includes(key)) return bad(`malformed body: unknown key ${JSON.stringify(key)}, expected "${expected}"`);
    if (pairs.has(key)) return bad(`malformed body: key "${key}" given twice`);
    pairs.set(key, part.slice(eq + 1));
  }
  for (const key of keys) if (!pairs.has(key)) return bad(`malformed body: missing "${key}=", expected "${expected}"`);
  return { ok: true, value: pairs };
}

function bad(reason: string): { ok: false; code: 400; reason: string } {
  return { ok: false, code: 400, reason };
}
