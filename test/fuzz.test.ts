/**
 * Property-based fuzzing of the request parsers (src/api/request.ts), the request decoding
 * (src/api/reply.ts requestParts) and the name checks (src/names.ts): whatever arrives, a parser
 * answers ok or a 400/404 refusal, never throws, and what it accepts is safe to use — a table name
 * that quotes into one SQL identifier, an archive name that is a plain file inside BACKUP_DIR.
 */
import { basename, dirname, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { MsgHdrsImpl, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { echoed } from '../src/api/archive.js';
import { BadRequestError } from '../src/errors.js';
import { pyJson } from '../src/api/pyjson.js';
import { requestParts } from '../src/api/reply.js';
import {
  MAX_TABLES_PER_REQUEST,
  parseArchiveRequest,
  parseBackupRequest,
  parseListRequest,
  parseRestoreRequest,
  parseStatusRequest,
  type Parsed,
  type RequestParts,
} from '../src/api/request.js';
import { quoteIdentifier } from '../src/mysql/sql.js';
import { checkArchiveName, checkTableName } from '../src/names.js';
import { BackupDir } from '../src/store/local.js';

const SEED = 20261125;
const RUNS = 2000;
const params = { seed: SEED, numRuns: RUNS };

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** A string as it arrives after a trip through UTF-8 (lone surrogates become U+FFFD). */
function wire(text: string): string {
  return new TextDecoder().decode(new TextEncoder().encode(text));
}

/** Pieces that break naive parsers and path handling. */
const NASTY = [
  '`', '``', "'", '"', '/', '\\', '..', '.', '%2e%2e', '%2e', '%2f', '%00', '\u0000', '\u0001', '\t', '\n', '\r', '\r\n',
  '\u001b', '\u001f', '\u007f', '\u0085', '\u00a0', '\u2028', '\ufeff', '\u200b', '\ufffd', '\ud800', '\udfff', '😀', 'ж',
  'İ', 'ß', ' ', ';', '=', ',', ':', '*', '?', '$', '{', '}', '[', ']', '<', '>', '|', '&', '#', '-- ', '/*', '*/',
  'makebackup', 'makebackup=', 'archivename', 'archivename=', 'archive=', 'tables=', 'listfiles', 'x.7z', '.sql',
  'a', 'b', 'c', 'orders', 'a b', '../', '..\\', '/etc/passwd', 'C:\\', '~', 'con', 'nul',
];

/** Any UTF-16 code unit, lone surrogates included (what a crafted JS string can hold). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

const piece = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: codeUnit, maxLength: 4 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }) },
);

/** A string built from nasty pieces: the fuzzer's main input. */
const nasty = fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join(''));

/** A list of names joined by `,`, sometimes with `.sql` and spaces. */
const nameList = fc
  .array(fc.tuple(fc.oneof(nasty, fc.constantFrom('a', 'b', 'c', 'd')), fc.boolean(), fc.constantFrom('', ' ', '  ')), { maxLength: 6 })
  .map((items) => items.map(([name, sql, pad]) => `${pad}${name}${sql ? '.sql' : ''}${pad}`).join(','));

const HEADER_NAMES = ['tables', 'Tables', 'TABLES', 'archivename', 'ArchiveName', 'job', 'Job', 'archive', 'makebackup', 'x-other'];

/** Header pairs as a client can send them (no CR/LF in values; NATS trims values). */
const headerPairs = fc.array(
  fc.tuple(fc.constantFrom(...HEADER_NAMES), fc.oneof(nasty, nameList).map((v) => wire(v).replace(/[\r\n]/g, ''))),
  { maxLength: 4 },
);

/** A body: form-2 shaped most of the time, anything at all otherwise. */
const body = fc.oneof(
  nasty,
  fc.tuple(fc.constantFrom('makebackup', 'archivename', 'archive', 'tables', 'listfiles', 'job', ''), fc.constantFrom('=', ' = ', '', '=='), nameList).map(([k, eq, v]) => `${k}${eq}${v}`),
  fc.tuple(nasty, nameList, fc.constantFrom(';', ',', ';;', '; ')).map(([a, t, s]) => `archive=${a}${s}tables=${t}`),
  fc.array(fc.tuple(fc.constantFrom('archive', 'tables', 'makebackup', 'extra', ''), nasty), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(';')),
);

// ---------------------------------------------------------------------------------------------
// Helpers

/** A NATS message as the subscription hands it over. */
function fakeMsg(data: Uint8Array, headers?: MsgHdrs): Msg {
  return { data, headers, subject: 'fuzz', reply: undefined } as unknown as Msg;
}

function withHeaders(bodyText: string | Uint8Array, pairs: [string, string][]): RequestParts {
  let h: MsgHdrs | undefined;
  if (pairs.length > 0) {
    const impl = new MsgHdrsImpl();
    for (const [k, v] of pairs) impl.append(k, v);
    h = impl;
  }
  return requestParts(fakeMsg(typeof bodyText === 'string' ? new TextEncoder().encode(bodyText) : bodyText, h));
}

function parts(bodyText: string, headers: Record<string, string> = {}): RequestParts {
  return withHeaders(bodyText, Object.entries(headers));
}

const PARSERS = {
  listbackups: parseListRequest,
  makebackup: parseBackupRequest,
  archive: parseArchiveRequest,
  restore: parseRestoreRequest,
  status: parseStatusRequest,
} as const;

function expectWellFormed(result: Parsed<unknown>): void {
  if (result.ok) return;
  expect(result.error).toBeInstanceOf(BadRequestError);
  expect(result.error.message.length).toBeGreaterThan(0);
}

const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function expectSafeTableName(name: string): void {
  expect(checkTableName(name).ok).toBe(true);
  expect(name).not.toBe('');
  expect([...name].length).toBeLessThanOrEqual(64);
  expect(name).not.toMatch(CONTROL);
  expect(name).not.toMatch(/[/\\]/);
  expect(name.startsWith('.')).toBe(false);
  expect(name.endsWith(' ')).toBe(false);
  expect(name).not.toMatch(LONE_SURROGATE);
  // Quoting gives ONE backtick-quoted identifier that unquotes to the name.
  const quoted = quoteIdentifier(name);
  expect(quoted.startsWith('`') && quoted.endsWith('`')).toBe(true);
  const inner = quoted.slice(1, -1);
  expect(inner.replaceAll('``', '')).not.toContain('`');
  expect(inner.replaceAll('``', '`')).toBe(name);
}

const BACKUP_DIR = resolve('/srv/backups');
const dir = new BackupDir(BACKUP_DIR);

function expectSafeArchiveName(name: string): void {
  expect(checkArchiveName(name).ok).toBe(true);
  expect(basename(name)).toBe(name);
  expect(name).not.toContain('..');
  expect(name.startsWith('.')).toBe(false);
  expect(name).not.toMatch(CONTROL);
  expect(name).not.toMatch(/[/\\]/);
  expect(name).not.toMatch(LONE_SURROGATE);
  expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
  const path = dir.pathOf(name as never);
  expect(dirname(path)).toBe(BACKUP_DIR);
  expect(path.startsWith(BACKUP_DIR + sep)).toBe(true);
  expect(resolve(BACKUP_DIR, name)).toBe(path);
}

function expectSafeAccepted(subject: keyof typeof PARSERS, result: Parsed<unknown>): void {
  if (!result.ok) return;
  if (subject === 'makebackup') {
    const tables = result.value as string[];
    expect(tables.length).toBeGreaterThan(0);
    expect(tables.length).toBeLessThanOrEqual(MAX_TABLES_PER_REQUEST);
    expect(new Set(tables).size).toBe(tables.length);
    tables.forEach(expectSafeTableName);
  } else if (subject === 'restore') {
    const { archive, tables } = result.value as { archive: string; tables: string[] };
    expectSafeArchiveName(archive);
    expect(tables.length).toBeGreaterThan(0);
    expect(new Set(tables).size).toBe(tables.length);
    tables.forEach(expectSafeTableName);
  } else if (subject === 'archive') {
    expectSafeArchiveName(result.value as string);
  } else if (subject === 'status') {
    expect(result.value).toMatch(/^[A-Za-z0-9-]{1,64}$/);
  }
}

function runAll(req: RequestParts): void {
  for (const [subject, parse] of Object.entries(PARSERS) as [keyof typeof PARSERS, (r: RequestParts) => Parsed<unknown>][]) {
    const result = parse(req);
    expectWellFormed(result);
    expectSafeAccepted(subject, result);
  }
}

// ---------------------------------------------------------------------------------------------

describe('the parsers never throw and accept only safe names', () => {
  it('any body, any headers (through requestParts, as the service decodes them)', () => {
    fc.assert(
      fc.property(body, headerPairs, (text, pairs) => {
        runAll(withHeaders(text, pairs));
      }),
      params,
    );
  });

  it('any bytes as the body, including invalid UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...['', 'makebackup=', 'archivename=', 'archive=x.7z;tables=']), (bytes, prefix) => {
        const data = new Uint8Array([...new TextEncoder().encode(prefix), ...bytes]);
        const req = withHeaders(data, []);
        expect(req.body).not.toMatch(LONE_SURROGATE);
        runAll(req);
      }),
      params,
    );
  });

  it('any bytes as the headers block, decoded the way the client decodes the wire', () => {
    const line = fc.tuple(fc.constantFrom(...HEADER_NAMES, 'bad key', ''), fc.constantFrom(':', ': ', '', '::'), fc.uint8Array({ maxLength: 24 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 4 }), nasty, (lines, text) => {
        const enc = new TextEncoder();
        const chunks: Uint8Array[] = [enc.encode('NATS/1.0')];
        for (const [k, colon, v] of lines) chunks.push(enc.encode(`\r\n${k}${colon}`), v);
        chunks.push(enc.encode('\r\n\r\n'));
        const raw = new Uint8Array(chunks.reduce<number[]>((all, c) => [...all, ...c], []));
        let decodes = true;
        try {
          MsgHdrsImpl.decode(raw);
        } catch {
          decodes = false;
        }
        // Like the client's message: the headers block is decoded when first read, and may throw.
        const msg = { data: new TextEncoder().encode(text), get headers() { return MsgHdrsImpl.decode(raw); } } as unknown as Msg;
        const req = requestParts(msg);
        runAll(req);
        if (!decodes) {
          expect(req.unreadable).toMatch(/^malformed headers/);
          for (const parse of Object.values(PARSERS)) expect(parse(req)).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
        }
      }),
      params,
    );
  });

  it('crafted JS strings with lone surrogates, straight into the parsers', () => {
    fc.assert(
      fc.property(fc.string({ unit: codeUnit, maxLength: 40 }), fc.string({ unit: codeUnit, maxLength: 40 }), fc.constantFrom(...HEADER_NAMES), (text, value, key) => {
        runAll({ body: text, header: (name) => (name.toLowerCase() === key.toLowerCase() ? value : undefined) });
        runAll({ body: `makebackup=${text}`, header: () => undefined });
        runAll({ body: `archive=${text};tables=${value}`, header: () => undefined });
      }),
      params,
    );
  });

  it('the name checks never throw, and what they accept is safe', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.string({ unit: codeUnit, maxLength: 80 }), fc.string({ unit: 'binary', minLength: 60, maxLength: 300 })), (name) => {
        const table = checkTableName(name);
        if (table.ok) expectSafeTableName(table.value);
        else expect(table.reason.length).toBeGreaterThan(0);
        const archive = checkArchiveName(name);
        if (archive.ok) expectSafeArchiveName(archive.value);
        else expect(archive.reason.length).toBeGreaterThan(0);
      }),
      params,
    );
  });

  it('thousands of names: more than the limit is refused, up to it is parsed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * MAX_TABLES_PER_REQUEST }), fc.boolean(), (n, duplicate) => {
        const names = Array.from({ length: n }, (_, i) => `t${i}`);
        if (duplicate) names.push(names[n - 1]!);
        const result = parseBackupRequest(parts(`makebackup=${names.join(',')}`));
        if (names.length > MAX_TABLES_PER_REQUEST || duplicate) expect(result).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
        else expect(result).toEqual({ ok: true, value: names });
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('both request forms mean the same', () => {
  // A value in a form-2 body cannot hold `;` (it separates pairs); everything else is fair.
  const noSemicolon = (s: string) => s.replace(/;/g, '').replace(/[\r\n]/g, '');
  /** Header values travel as UTF-8, without CR/LF and trimmed, as NATS carries them. */
  const asHeader = (s: string) => wire(s).trim();

  it('makebackup: makebackup=<list> ≡ header tables: <list>', () => {
    fc.assert(
      fc.property(nameList.map(noSemicolon), (list) => {
        const fromBody = parseBackupRequest(parts(`makebackup=${list}`));
        const fromHeader = parseBackupRequest(parts('makebackup', { tables: asHeader(list) }));
        const fromBoth = parseBackupRequest(parts(`makebackup=${list}`, { tables: asHeader(list) }));
        expect(fromHeader).toEqual(fromBody);
        expect(fromBoth).toEqual(fromBody);
      }),
      params,
    );
  });

  it('archive: archivename=<name> ≡ header archivename: <name>', () => {
    fc.assert(
      fc.property(nasty.map(noSemicolon), (name) => {
        const fromBody = parseArchiveRequest(parts(`archivename=${name}`));
        const fromHeader = parseArchiveRequest(parts('archive', { archivename: asHeader(name) }));
        const fromBoth = parseArchiveRequest(parts(`archivename=${name}`, { archivename: asHeader(name) }));
        expect(fromHeader).toEqual(fromBody);
        expect(fromBoth).toEqual(fromBody);
      }),
      params,
    );
  });

  it('restore: archive=<a>;tables=<list> ≡ headers archivename: <a>, tables: <list>', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.constantFrom('x.7z', 'y.7z')).map(noSemicolon), nameList.map(noSemicolon), (archive, list) => {
        const fromBody = parseRestoreRequest(parts(`archive=${archive};tables=${list}`));
        const headers = { archivename: asHeader(archive), tables: asHeader(list) };
        expect(parseRestoreRequest(parts('archive', headers))).toEqual(fromBody);
        expect(parseRestoreRequest(parts(`archive=${archive};tables=${list}`, headers))).toEqual(fromBody);
        // The pairs in either order.
        expect(parseRestoreRequest(parts(`tables=${list};archive=${archive}`))).toEqual(fromBody);
      }),
      params,
    );
  });

  it('status: the id in the body ≡ the id in the job header', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.uuid()).map(noSemicolon), (id) => {
        const fromBody = parseStatusRequest(parts(id));
        expect(parseStatusRequest(parts('', { job: asHeader(id) }))).toEqual(fromBody);
        expect(parseStatusRequest(parts(id, { job: asHeader(id) }))).toEqual(fromBody);
      }),
      params,
    );
  });

  it('a header form with any body that is not a form-2 request ignores the body', () => {
    const notForm2 = body.filter((b) => !/(^|;)\s*(makebackup|archivename|archive|tables)\s*=/.test(b));
    fc.assert(
      fc.property(notForm2, fc.constantFrom('a,b', 'x', 'a.sql'), (text, list) => {
        expect(parseBackupRequest(parts(text, { tables: list }))).toEqual(parseBackupRequest(parts('makebackup', { tables: list })));
        expect(parseArchiveRequest(parts(text, { archivename: 'x.7z' }))).toEqual({ ok: true, value: 'x.7z' });
        expect(parseRestoreRequest(parts(text, { archivename: 'x.7z', tables: list }))).toEqual(parseRestoreRequest(parts('archive', { archivename: 'x.7z', tables: list })));
      }),
      params,
    );
  });
});

describe('headers that disagree with the body are refused', () => {
  const names = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 5 });
  const archives = fc.constantFrom('x.7z', 'y.7z', '2021-11-28_17-59-19-backup.7z');

  it('makebackup: tables header vs makebackup= body', () => {
    fc.assert(
      fc.property(names, names, (h, b) => {
        const result = parseBackupRequest(parts(`makebackup=${b.join(',')}`, { tables: h.join(',') }));
        if (new Set(h).size === new Set(b).size && h.every((n) => b.includes(n))) expect(result).toEqual({ ok: true, value: h });
        else expect(result).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('disagree') } });
      }),
      params,
    );
  });

  it('archive: archivename header vs archivename= body', () => {
    fc.assert(
      fc.property(archives, archives, (h, b) => {
        const result = parseArchiveRequest(parts(`archivename=${b}`, { archivename: h }));
        if (h === b) expect(result).toEqual({ ok: true, value: h });
        else expect(result).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('disagree') } });
      }),
      params,
    );
  });

  it('restore: archivename/tables headers vs archive=;tables= body (also a half or malformed body)', () => {
    const restoreBody = fc.oneof(
      fc.tuple(archives, names).map(([a, t]) => ({ text: `archive=${a};tables=${t.join(',')}`, a, t })),
      fc.tuple(archives, names).map(([a, t]) => ({ text: `tables=${t.map((n) => `${n}.sql`).join(', ')};archive=${a}`, a, t })),
      archives.map((a) => ({ text: `archive=${a}`, a, t: null })),
      names.map((t) => ({ text: `tables=${t.join(',')}`, a: null, t })),
    );
    fc.assert(
      fc.property(archives, names, restoreBody, (a, t, b) => {
        const result = parseRestoreRequest(parts(b.text, { archivename: a, tables: t.join(',') }));
        const same = b.a === a && b.t !== null && b.t.length === t.length && t.every((n) => b.t!.includes(n));
        if (same) expect(result).toEqual({ ok: true, value: { archive: a, tables: t } });
        else expect(result).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('disagree') } });
      }),
      params,
    );
  });

  it('status: job header vs an id in the body', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.oneof(fc.uuid(), fc.constant('')), (h, b) => {
        const result = parseStatusRequest(parts(b, { job: h }));
        if (b === '' || b === h) expect(result).toEqual({ ok: true, value: h });
        else expect(result).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
      }),
      params,
    );
  });

  it('a header given twice (in any letter case) is refused, whatever the values', () => {
    const variants = fc.constantFrom<[string, string]>(['tables', 'tables'], ['tables', 'Tables'], ['TABLES', 'tables']);
    fc.assert(
      fc.property(variants, names, names, ([k1, k2], v1, v2) => {
        const req = withHeaders('makebackup', [[k1, v1.join(',')], [k2, v2.join(',')]]);
        expect(parseBackupRequest(req)).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
        const restore = withHeaders('archive', [['archivename', 'x.7z'], [k1, v1.join(',')], [k2, v2.join(',')]]);
        expect(parseRestoreRequest(restore)).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
        const archive = withHeaders('archive', [['archivename', 'x.7z'], [k1.replace(/tables/i, 'ArchiveName'), 'x.7z']]);
        expect(parseArchiveRequest(archive)).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
        const status = withHeaders('', [['job', v1.join('')], ['Job', v1.join('')]]);
        expect(parseStatusRequest(status)).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
      }),
      params,
    );
  });
});

describe('the archive refusal echoes the name as sent, unless the reply would not fit', () => {
  it('whatever was given, {"<name>": "bad"} is the name itself when it fits the limit, and always fits', () => {
    const limit = 4096;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), (given) => {
        const key = echoed(given, limit);
        const fits = Buffer.byteLength(pyJson({ [given]: 'bad' })) <= limit;
        if (fits) expect(key).toBe(given);
        else expect(key).toBe(`${[...given].slice(0, 255).join('')}…`);
        expect(Buffer.byteLength(pyJson({ [key]: 'bad' }))).toBeLessThanOrEqual(limit);
      }),
      { seed: SEED, numRuns: 500 },
    );
    expect(echoed('ж'.repeat(300_000), 1024 * 1024)).toBe(`${'ж'.repeat(255)}…`);
  });
});
