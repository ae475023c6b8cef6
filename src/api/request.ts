import { BadRequestError, type ServiceError } from '../errors.js';
import { checkArchiveName, checkTableName, type ArchiveName, type Checked, type TableName } from '../names.js';

/**
 * The seed's two request forms, parsed into typed values. Form 1 puts the arguments in headers
 * (any body); form 2 puts them in the body as `key=value` pairs.
 */
export interface RequestParts {
  body: string;
  /** Header lookup, case-insensitive; undefined when absent. */
  header(name: string): string | undefined;
  /** Every value of a header (names compared case-insensitively), [] when absent; without it a header counts once. */
  headerValues?(name: string): string[];
  /** Set when the request cannot be read at all (a headers block that does not decode): every parser refuses it. */
  unreadable?: string;
}

/** A request's typed value, or the error to answer it with (a BadRequestError, mostly). */
export type Parsed<T> = { ok: true; value: T } | Refused;

type Refused = { ok: false; error: ServiceError };

export const MAX_TABLES_PER_REQUEST = 1000;

export function parseListRequest(req: RequestParts): Parsed<null> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  if (req.body.trim() === 'listfiles') return { ok: true, value: null };
  return badRequest('the body must be "listfiles"');
}

/**
 * Form 1 (headers) with any body, or form 2 (the body). A form-1 request whose body is itself a
 * form-2 request (it has one of the form's `key=`) must say the same thing in both, else it is
 * refused: the service never silently prefers one of two disagreeing requests.
 */
export function parseBackupRequest(req: RequestParts): Parsed<TableName[]> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  const header = oneHeader(req, 'tables');
  if (!header.ok) return header;
  const fromBody = (): Parsed<TableName[]> => {
    const value = bodyValue(req.body, 'makebackup');
    return value.ok ? parseTableList(value.value, false) : value;
  };
  if (header.value === undefined) return fromBody();
  const tables = parseTableList(header.value, false);
  if (!tables.ok || !isBodyForm(req.body, ['makebackup'])) return tables;
  const body = fromBody();
  if (!body.ok || !sameNames(body.value, tables.value)) return disagree('the "tables" header', body);
  return tables;
}

export function parseArchiveRequest(req: RequestParts): Parsed<ArchiveName> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  const header = oneHeader(req, 'archivename');
  if (!header.ok) return header;
  const fromBody = (): Parsed<ArchiveName> => {
    const value = bodyValue(req.body, 'archivename');
    return value.ok ? archiveName(value.value) : value;
  };
  if (header.value === undefined) return fromBody();
  const name = archiveName(header.value);
  if (!name.ok || !isBodyForm(req.body, ['archivename'])) return name;
  const body = fromBody();
  if (!body.ok || body.value !== name.value) return disagree('the "archivename" header', body);
  return name;
}

export interface RestoreRequest {
  archive: ArchiveName;
  tables: TableName[];
}

export function parseRestoreRequest(req: RequestParts): Parsed<RestoreRequest> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  const archiveHeader = oneHeader(req, 'archivename');
  if (!archiveHeader.ok) return archiveHeader;
  const tablesHeader = oneHeader(req, 'tables');
  if (!tablesHeader.ok) return tablesHeader;
  const fromBody = (): Parsed<RestoreRequest> => {
    const pairs = bodyPairs(req.body, ['archive', 'tables']);
    return pairs.ok ? restoreOf(pairs.value.get('archive') ?? '', pairs.value.get('tables') ?? '') : pairs;
  };
  if (archiveHeader.value === undefined && tablesHeader.value === undefined) return fromBody();
  if (archiveHeader.value === undefined || tablesHeader.value === undefined) {
    return badRequest('headers form needs both "archivename" and "tables"');
  }
  const headers = restoreOf(archiveHeader.value, tablesHeader.value);
  if (!headers.ok || !isBodyForm(req.body, ['archive', 'tables'])) return headers;
  const body = fromBody();
  if (!body.ok || body.value.archive !== headers.value.archive || !sameNames(body.value.tables, headers.value.tables)) {
    return disagree('the "archivename" and "tables" headers', body);
  }
  return headers;
}

const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

/** `<prefix>.status`: the job id in the body, or in the `job` header with an empty body or the same id. */
export function parseStatusRequest(req: RequestParts): Parsed<string> {
  if (req.unreadable !== undefined) return badRequest(req.unreadable);
  const header = oneHeader(req, 'job');
  if (!header.ok) return header;
  const body = req.body.trim();
  const id = (header.value ?? body).trim();
  if (!JOB_ID.test(id)) return badRequest('expected a job id in the body or the "job" header');
  if (header.value !== undefined && body !== '' && body !== id) return badRequest('the "job" header and the body name different jobs');
  return { ok: true, value: id };
}

function restoreOf(archiveRaw: string, tablesRaw: string): Parsed<RestoreRequest> {
  const archive = archiveName(archiveRaw);
  if (!archive.ok) return archive;
  const tables = parseTableList(tablesRaw, true);
  if (!tables.ok) return tables;
  return { ok: true, value: { archive: archive.value, tables: tables.value } };
}

/** `t1, t2,t3` → table names; in restore requests each may end in `.sql`. */
function parseTableList(raw: string, allowSqlSuffix: boolean): Parsed<TableName[]> {
  const items = raw.split(',').map((item) => item.trim());
  if (items.length > MAX_TABLES_PER_REQUEST) return badRequest(`at most ${MAX_TABLES_PER_REQUEST} tables per request`);
  const tables: TableName[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const name = allowSqlSuffix && item.endsWith('.sql') ? item.slice(0, -'.sql'.length) : item;
    const checked: Checked<TableName> = checkTableName(name);
    if (!checked.ok) return badRequest(item === '' ? 'empty table name in the list' : checked.reason);
    if (seen.has(checked.value)) return badRequest(`table ${JSON.stringify(checked.value)} is named twice`);
    seen.add(checked.value);
    tables.push(checked.value);
  }
  return { ok: true, value: tables };
}

function archiveName(raw: string): Parsed<ArchiveName> {
  const checked = checkArchiveName(raw.trim());
  return checked.ok ? checked : badRequest(checked.reason);
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
  if (text === '') return badRequest(`empty request: expected headers or the body "${expected}"`);
  const pairs = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) return badRequest(`malformed body: expected "${expected}"`);
    const key = part.slice(0, eq).trim();
    if (!keys.includes(key)) return badRequest(`malformed body: unknown key ${JSON.stringify(key)}, expected "${expected}"`);
    if (pairs.has(key)) return badRequest(`malformed body: key "${key}" given twice`);
    pairs.set(key, part.slice(eq + 1));
  }
  for (const key of keys) if (!pairs.has(key)) return badRequest(`malformed body: missing "${key}=", expected "${expected}"`);
  return { ok: true, value: pairs };
}

/** A header given once (or absent); a repeated one (in any letter case) is refused, never half-read. */
function oneHeader(req: RequestParts, name: string): Parsed<string | undefined> {
  const count = req.headerValues?.(name).length ?? 0;
  if (count > 1) return badRequest(`header "${name}" given ${count} times`);
  return { ok: true, value: req.header(name) };
}

/** Whether the body is itself a form-2 request: one of its `;` parts is `key=…` with one of the form's keys. */
function isBodyForm(body: string, keys: string[]): boolean {
  return body.split(';').some((part) => {
    const eq = part.indexOf('=');
    return eq >= 0 && keys.includes(part.slice(0, eq).trim());
  });
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return a.length === b.length && b.every((name) => set.has(name));
}

function disagree(what: string, body: Parsed<unknown>): Refused {
  return badRequest(`${what} and the body disagree${body.ok ? '' : ` (the body: ${body.error.message})`}`);
}

export function badRequest(reason: string): Refused {
  return { ok: false, error: new BadRequestError(reason) };
}
