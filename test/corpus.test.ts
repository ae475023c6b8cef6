/**
 * Hostile input against the running service: a corpus of malformed requests (hand-written nasty
 * cases and deterministically generated ones, in both request forms, on every subject) must each
 * be refused with the seed's bad body and a 400/404 reason in the service-error headers — and
 * change nothing: no file in or outside BACKUP_DIR, no table, no queued job, no object. Then a
 * valid backup still works.
 */
import { copyFileSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, MsgHdrsImpl, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pyJson } from '../src/api/pyjson.js';
import { checksum, dbConnect, ident, type Db } from './helpers/db.js';
import { natsConnect, request, waitForJob, waitForJobsDrained } from './helpers/nats.js';
import { retire, startService, type RunningService } from './helpers/service.js';

type Subject = 'listbackups' | 'makebackup' | 'archive' | 'restore' | 'status';

interface Case {
  label: string;
  subject: Subject;
  body: string | Uint8Array;
  /** Header pairs (a name may repeat), or a raw headers block sent as is. */
  headers?: [string, string][] | Uint8Array;
  /** The expected code; without it, 400 or 404. */
  code?: 400 | 404;
}

const SEED = 20261125;
const TIMEOUT_MS = 5_000;
const TABLES = ['corpus_a', 'corpus_b', 'corpus`tick'] as const;
const BAD_BODY: Record<Subject, string> = {
  listbackups: '{"status": "bad"}',
  makebackup: '{"status": "bad", "futurefilename": ""}',
  archive: '', // {"<the name given>": "bad"}: see archiveKey
  restore: '{"status": "bad"}',
  status: '{"status": "bad"}',
};

let service: RunningService;
let nc: NatsConnection;
let db: Db;
let real: string; // an archive the service made, in BACKUP_DIR and the bucket
let firstJob: string;
let outside: string; // a directory beside BACKUP_DIR holding a copy of `real`

const enc = new TextEncoder();
const bytes = (...parts: (string | number[])[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...enc.encode(p)] : p)));
/** What the service reads: UTF-8 on the wire (lone surrogates become U+FFFD); invalid UTF-8 as one U+FFFD. */
function wire(body: string | Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(typeof body === 'string' ? enc.encode(body) : body);
  } catch {
    return '\ufffd';
  }
}

beforeAll(async () => {
  db = await dbConnect();
  await db.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
  await db.query(`CREATE TABLE ${ident('corpus_a')} (id INT PRIMARY KEY, name VARCHAR(20))`);
  await db.query(`CREATE TABLE ${ident('corpus_b')} (id INT PRIMARY KEY, note TEXT)`);
  await db.query(`CREATE TABLE ${ident('corpus`tick')} (id INT PRIMARY KEY, v VARCHAR(10))`);
  await db.query(`INSERT INTO ${ident('corpus_a')} VALUES (1, 'one'), (2, 'two')`);
  await db.query(`INSERT INTO ${ident('corpus_b')} VALUES (1, 'first'), (2, NULL)`);
  await db.query(`INSERT INTO ${ident('corpus`tick')} VALUES (1, 'x'), (2, '\`')`);
  service = await startService();
  nc = await natsConnect();
  // A real archive, so that near misses (a hidden copy, one outside BACKUP_DIR, a valid archive
  // with a bad table list) would visibly succeed if the service let them through.
  const reply = await request(nc, `${service.prefix}.makebackup`, 'makebackup=corpus_a,corpus_b');
  expect(reply.body).toMatch(/^\{"status": "ok"/);
  firstJob = reply.headers['Backup-Job-Id']!;
  expect((await waitForJob(nc, service.prefix, firstJob)).status).toBe('done');
  await waitForJobsDrained(nc, service.stream); // acked, so the stream's state is settled before the snapshot
  real = basename((JSON.parse(reply.body) as { futurefilename: string }).futurefilename);
  copyFileSync(join(service.backupDir, real), join(service.backupDir, `.${real}`));
  outside = `${service.backupDir}-outside`;
  mkdirSync(outside);
  copyFileSync(join(service.backupDir, real), join(outside, real));
});

afterAll(async () => {
  await retire(nc, service);
  await nc?.close();
  await db?.query(`DROP TABLE IF EXISTS ${TABLES.map(ident).join(', ')}`);
  await db?.end();
  if (service) rmSync(service.backupDir, { recursive: true, force: true });
  if (outside) rmSync(outside, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The corpus

/** Table names refused as malformed (400) wherever they appear. */
const TABLES_400 = [
  '.hidden', '.', '..', '...', '.corpus_a', '../corpus_a', '../../etc/passwd', 'a/b', 'test/corpus_a', 'a\\b', '..\\corpus_a',
  'a\u0000b', '\u0000', 'corpus_a\u0000', 'a\u0001b', 'a\tb', 'a\u001bb', 'a\u007fb', 'x'.repeat(65), 'ж'.repeat(65), '\ufffd', 'a\ud800b',
];

/** Well-formed table names that no table has (404); a `;` in a form-2 body makes them 400. */
const TABLES_404 = [
  'corpus_missing', 'a`b', '`corpus_a`', 'corpus_a`', 'x`; DROP TABLE corpus_a; --', 'corpus_a`; DROP TABLE corpus_b; -- ',
  "corpus_a' OR '1'='1", '"corpus_a"', "'corpus_a'", '%2e%2e', '%2e%2e%2fcorpus_a', 'corpus_a%00', 'a b', 'corpus a', 'заказы',
  '😀', 'CORPUS_A', 'corpus_a\u200b', 'corpus_%', '_orpus_a', 'corpus_a*', '*', '%', 'test.corpus_a', 'information_schema.TABLES',
  'NULL', 'DUAL', "corpus_a'); DROP TABLE corpus_b; --",
];

function archives400(): string[] {
  return [
    '', '.', '..', '...', '....', '../x.7z', '../../../etc/passwd', '/etc/passwd', '/', 'a/b.7z', `${real}/`, `./${real}`, 'a\\b.7z',
    '..\\x.7z', `.${real}`, '.hidden.7z', '.job-x.7z.partial', 'x\u0000.7z', `${real}\u0000`, 'x\u0001.7z', 'x\u001f.7z', 'x\u007f.7z',
    'a..b.7z', `..${real}`, `../${basename(outside)}/${real}`, `%2e%2e/${real}`, `${'x'.repeat(256)}.7z`, `${'ж'.repeat(128)}.7z`,
    '\ufffd.7z', `${real}\ud800`,
  ];
}

function archives404(): string[] {
  return [
    'missing.7z', '%2e%2e', '%2e%2e%2fetc%2fpasswd', `%2e%2e%2f${basename(outside)}%2f${real}`, '%2e%2e%5cx.7z', '*', '*.7z', '?',
    '>', '$(id).7z', '`id`.7z', "x'.7z", 'x".7z', 'заказы.7z', '😀.7z', 'CON', 'nul', real.toUpperCase(), `${real}.partial`,
    `${real} x`, `${real}\u200b`, 'lost+found', '…', `${real.slice(0, -3)}`,
  ];
}

/** A raw headers block the NATS client refuses to decode (it throws on first read), or decodes to junk. */
const RAW_HEADERS: [string, Uint8Array][] = [
  ['a key with a space', bytes('NATS/1.0\r\nbad key: x\r\n\r\n')],
  ['a non-ASCII key', bytes('NATS/1.0\r\nжtables: corpus_a\r\n\r\n')],
  ['a bare LF in a value', bytes('NATS/1.0\r\ntables: corpus_a\ncorpus_b\r\narchivename: x\ny\r\n\r\n')],
];

function handWritten(): Case[] {
  const cases: Case[] = [];
  const add = (subject: Subject, label: string, body: string | Uint8Array, headers?: Case['headers'], code?: 400 | 404) =>
    cases.push({ subject, label, body, headers, code });
  const bodyCode = (value: string, code: 400 | 404): 400 | 404 => (value.includes(';') ? 400 : code);
  const MB = 1_000_000;
  const many = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(',');

  // listbackups: only the body "listfiles".
  for (const body of ['', ' ', 'listfile', 'LISTFILES', 'Listfiles', 'listfiles;', 'listfiles=1', 'listfiles listfiles', 'listfiles\u0000',
    '\u0000listfiles', 'list files', 'listfiles\ufffd', 'makebackup=corpus_a', `archivename=${real}`, 'listfiles'.repeat(MB / 9)]) {
    add('listbackups', `body ${JSON.stringify(body.slice(0, 40))}`, body, undefined, 400);
  }
  add('listbackups', 'binary body', bytes([0xff, 0xfe, 0x00, 0x01]), undefined, 400);
  add('listbackups', 'listfiles + invalid UTF-8', bytes('listfiles', [0xff]), undefined, 400);
  add('listbackups', 'listfiles + overlong UTF-8 NUL', bytes('listfiles', [0xc0, 0x80]), undefined, 400);
  add('listbackups', 'headers, wrong body', 'listall', [['tables', 'corpus_a'], ['archivename', real]], 400);

  // makebackup, form 2 (body) and form 1 (the tables header).
  for (const name of TABLES_400) {
    add('makebackup', `body: bad name ${JSON.stringify(name)}`, `makebackup=${name}`, undefined, 400);
    add('makebackup', `body: good then bad ${JSON.stringify(name)}`, `makebackup=corpus_a,${name}`, undefined, 400);
    add('makebackup', `header: bad name ${JSON.stringify(name)}`, 'makebackup', [['tables', name]], 400);
  }
  for (const name of TABLES_404) {
    add('makebackup', `body: unknown ${JSON.stringify(name)}`, `makebackup=${name}`, undefined, bodyCode(name, 404));
    add('makebackup', `body: known then unknown ${JSON.stringify(name)}`, `makebackup=corpus_a, ${name}`, undefined, bodyCode(name, 404));
    add('makebackup', `header: unknown ${JSON.stringify(name)}`, 'makebackup', [['tables', name]], 404);
  }
  for (const body of ['', ' ', 'makebackup', 'makebackup=', 'makebackup= ', 'makebackup=;', 'makebackup=corpus_a;',
    'makebackup=corpus_a;makebackup=corpus_a', 'makebackup=corpus_a;tables=corpus_b', 'tables=corpus_a', 'MAKEBACKUP=corpus_a',
    'makebackup:corpus_a', 'makebackup corpus_a', '=corpus_a', 'corpus_a', 'makebackup=corpus_a,', 'makebackup=,corpus_a',
    'makebackup=corpus_a,,corpus_b', 'makebackup=corpus_a,corpus_a', 'makebackup=corpus_a, corpus_a ',
    `makebackup=${many(1001)}`, `makebackup=${many(5000)}`, `makebackup=${many(999)},t0`, `makebackup=corpus_a,${'x,'.repeat(MB / 2 - 20)}x`,
    `makebackup=${'a'.repeat(MB)}`]) {
    add('makebackup', `body ${JSON.stringify(body.slice(0, 40))}${body.length > 40 ? `… (${body.length} chars)` : ''}`, body, undefined, 400);
  }
  add('makebackup', 'a second = is part of the name', 'makebackup==corpus_a', undefined, 404);
  add('makebackup', 'thousands of unknown names', `makebackup=${many(1000, 'corpus_missing_')}`, undefined, 404);
  add('makebackup', 'binary body', bytes([0x80, 0x81, 0xfe, 0xff]), undefined, 400);
  add('makebackup', 'valid body + invalid UTF-8', bytes('makebackup=corpus_a', [0xff]), undefined, 400);
  add('makebackup', 'valid body + UTF-16 surrogate bytes', bytes('makebackup=corpus_a', [0xed, 0xa0, 0x80]), undefined, 400);
  add('makebackup', 'header: empty', 'makebackup', [['tables', '']], 400);
  add('makebackup', 'header: empty item', 'makebackup', [['tables', 'corpus_a,,corpus_b']], 400);
  add('makebackup', 'header: duplicate', 'makebackup', [['tables', 'corpus_a,corpus_a']], 400);
  add('makebackup', 'header: thousands', 'makebackup', [['tables', many(3000)]], 400);
  add('makebackup', 'header: 1 MB', 'makebackup', [['tables', 'a'.repeat(MB - 100)]], 400);
  add('makebackup', 'header given twice', 'makebackup', [['tables', 'corpus_a'], ['tables', 'corpus_b']], 400);
  add('makebackup', 'header given twice, same value', 'makebackup', [['tables', 'corpus_a'], ['tables', 'corpus_a']], 400);
  add('makebackup', 'header in two letter cases', 'makebackup', [['tables', 'corpus_a'], ['TABLES', 'corpus_a']], 400);
  add('makebackup', 'header disagrees with the body', 'makebackup=corpus_b', [['tables', 'corpus_a']], 400);
  add('makebackup', 'header vs a malformed form-2 body', 'makebackup=corpus_a,,', [['tables', 'corpus_a']], 400);
  add('makebackup', 'header + binary body', bytes([0xff]), [['tables', '../corpus_a']], 400);

  // archive: {"<name>": "bad"}.
  for (const name of archives400()) {
    add('archive', `body: ${JSON.stringify(name.slice(0, 40))}`, `archivename=${name}`, undefined, 400);
    add('archive', `header: ${JSON.stringify(name.slice(0, 40))}`, 'archive', [['archivename', name]], 400);
  }
  for (const name of archives404()) {
    add('archive', `body: ${JSON.stringify(name)}`, `archivename=${name}`, undefined, bodyCode(name, 404));
    add('archive', `header: ${JSON.stringify(name)}`, 'archive', [['archivename', name]], 404);
  }
  add('archive', 'header: a ; in the name', 'archive', [['archivename', 'x;y.7z']], 404);
  for (const body of ['', 'archivename', 'archivename=', `archive=${real}`, `archivename=${real};archivename=${real}`, `archivename=${real};`,
    `archivename=${real};extra=1`, `ARCHIVENAME=${real}`, `archivename:${real}`, `archivename ${real}`, `=${real}`, real, `tables=${real}`,
    `archivename=${'a'.repeat(MB - 20)}`, `archivename=${'ж'.repeat(300_000)}`, `archivename=${'😀'.repeat(200_000)}`]) {
    add('archive', `body ${JSON.stringify(body.slice(0, 40))}${body.length > 40 ? `… (${body.length} chars)` : ''}`, body, undefined, 400);
  }
  add('archive', 'binary body', bytes([0xff, 0x00, 0xfe]), undefined, 400);
  add('archive', 'valid body + invalid UTF-8', bytes(`archivename=${real}`, [0xff]), undefined, 400);
  add('archive', 'header given twice', 'archive', [['archivename', real], ['archivename', real]], 400);
  add('archive', 'header in two letter cases', 'archive', [['archivename', real], ['ArchiveName', 'missing.7z']], 400);
  add('archive', 'header disagrees with the body', `archivename=missing.7z`, [['archivename', real]], 400);
  add('archive', 'header disagrees with the body (2)', `archivename=${real}`, [['archivename', 'missing.7z']], 400);
  add('archive', 'header vs a malformed form-2 body', `archivename=${real};archivename=x`, [['archivename', real]], 400);

  // restore.
  for (const name of TABLES_400) {
    add('restore', `body: bad table ${JSON.stringify(name)}`, `archive=${real};tables=${name}`, undefined, 400);
    add('restore', `header: bad table ${JSON.stringify(name)}`, 'archive', [['archivename', real], ['tables', name]], 400);
  }
  for (const name of TABLES_404) {
    add('restore', `body: table not held ${JSON.stringify(name)}`, `archive=${real};tables=${name}.sql`, undefined, bodyCode(name, 404));
    add('restore', `header: table not held ${JSON.stringify(name)}`, 'archive', [['archivename', real], ['tables', `corpus_a,${name}`]], 404);
  }
  for (const name of archives400()) {
    add('restore', `body: bad archive ${JSON.stringify(name.slice(0, 40))}`, `archive=${name};tables=corpus_a`, undefined, 400);
    add('restore', `header: bad archive ${JSON.stringify(name.slice(0, 40))}`, 'archive', [['archivename', name], ['tables', 'corpus_a']], 400);
  }
  for (const name of archives404().slice(0, 12)) {
    add('restore', `body: unknown archive ${JSON.stringify(name)}`, `archive=${name};tables=corpus_a`, undefined, bodyCode(name, 404));
    add('restore', `header: unknown archive ${JSON.stringify(name)}`, 'archive', [['archivename', name], ['tables', 'corpus_a']], 404);
  }
  for (const body of ['', ' ', 'archive', 'restore', `archive=${real}`, 'tables=corpus_a', `archive=${real};tables=`, `archive=${real};tables=;`,
    `archive=${real};tables=corpus_a;tables=corpus_b`, `archive=${real};archive=${real};tables=corpus_a`, `archive=${real},tables=corpus_a`,
    `archive=${real};tables=corpus_a;extra=1`, `archive=${real} tables=corpus_a`, `archivename=${real};tables=corpus_a`,
    `archive=${real};tables=corpus_a.sql,corpus_a`, `archive=${real};tables=corpus_a,,corpus_b`, `archive=${real};tables=corpus_a,`,
    `ARCHIVE=${real};TABLES=corpus_a`, `archive=${real};tables=corpus_a .sql`, `archive=${real};tables=.sql`, `archive=${real};tables=${many(1001)}`,
    `archive=${real};tables=corpus_a;`, `;archive=${real};tables=corpus_a`, `archive=${real};;tables=corpus_a`, `archive=${real}\u0000;tables=corpus_a`]) {
    add('restore', `body ${JSON.stringify(body.slice(0, 60))}`, body, undefined, 400);
  }
  for (const tables of ['missing.sql', 'corpus_a.sql.sql', 'corpus_a.SQL', 'corpus_a.sql,nope', '*.sql', 'manifest', 'manifest.json', 'corpus_b,corpus_c']) {
    add('restore', `body: ${tables}`, `archive=${real};tables=${tables}`, undefined, 404);
  }
  add('restore', 'binary body', bytes([0xde, 0xad, 0xbe, 0xef]), undefined, 400);
  add('restore', 'valid body + invalid UTF-8', bytes(`archive=${real};tables=corpus_a`, [0xc3]), undefined, 400);
  add('restore', '1 MB body', `archive=${real};tables=${'corpus_a,'.repeat(110_000)}`, undefined, 400);
  add('restore', 'only the archivename header', 'archive', [['archivename', real]], 400);
  add('restore', 'only the tables header', 'archive', [['tables', 'corpus_a']], 400);
  add('restore', 'tables header twice', 'archive', [['archivename', real], ['tables', 'corpus_a'], ['tables', 'corpus_b']], 400);
  add('restore', 'archivename header twice', 'archive', [['archivename', real], ['Archivename', real], ['tables', 'corpus_a']], 400);
  add('restore', 'headers disagree with the body (tables)', `archive=${real};tables=corpus_b`, [['archivename', real], ['tables', 'corpus_a']], 400);
  add('restore', 'headers disagree with the body (archive)', `archive=missing.7z;tables=corpus_a`, [['archivename', real], ['tables', 'corpus_a']], 400);
  add('restore', 'headers vs a half form-2 body', 'tables=corpus_a', [['archivename', real], ['tables', 'corpus_a']], 400);
  add('restore', 'empty headers', 'archive', [['archivename', ''], ['tables', '']], 400);

  // status: a job id, in the body or the job header.
  const unknown = '00000000-0000-4000-8000-000000000000';
  for (const body of ['', ' ', '../x', 'a b', 'x'.repeat(65), 'job=abc', "' OR 1=1 --", '*', '>', 'a.b', 'a/b', '\u0000', `${unknown}\u0000`,
    `${firstJob};${unknown}`, `${firstJob} ${firstJob}`, 'ж', 'x'.repeat(MB)]) {
    add('status', `body ${JSON.stringify(body.slice(0, 40))}`, body, undefined, 400);
  }
  add('status', 'unknown id', unknown, undefined, 404);
  add('status', 'unknown short id', 'abc', undefined, 404);
  add('status', 'binary body', bytes([0xff, 0xff]), undefined, 400);
  add('status', 'header: empty', '', [['job', '']], 400);
  add('status', 'header: a path', '', [['job', '../x']], 400);
  add('status', 'header: unknown id', '', [['job', unknown]], 404);
  add('status', 'header and body name different jobs', unknown, [['job', firstJob]], 400);
  add('status', 'header and body name different jobs (2)', firstJob, [['job', unknown]], 400);
  add('status', 'header given twice', '', [['job', firstJob], ['Job', firstJob]], 400);

  // Headers blocks the NATS client cannot decode, with bodies that would otherwise be valid.
  for (const [label, raw] of RAW_HEADERS) {
    add('listbackups', `raw headers: ${label}`, 'listfiles', raw, 400);
    add('makebackup', `raw headers: ${label}`, 'makebackup=corpus_a', raw, 400);
    add('archive', `raw headers: ${label}`, `archivename=${real}`, raw, 400);
    add('restore', `raw headers: ${label}`, `archive=${real};tables=corpus_a`, raw, 400);
    add('status', `raw headers: ${label}`, firstJob, raw, 400);
  }
  add('makebackup', 'raw headers: a binary tables value', 'makebackup', bytes('NATS/1.0\r\ntables: ', [0xff, 0xfe, 0x00], '\r\n\r\n'), 400);
  add('archive', 'raw headers: a binary archivename value', 'archive', bytes('NATS/1.0\r\narchivename: ', [0xc0, 0xaf], '..', [0xc0, 0xaf], 'x.7z\r\n\r\n'), 400);
  return cases;
}

/** Generated cases: random junk around a defect that guarantees a refusal (a bad or unknown name). */
function generated(): Case[] {
  const NASTY = ['`', "'", '"', '/', '\\', '..', '.', '%2e', ';', '=', ',', ' ', '\t', '\u0000', '\u0001', '\u007f', '\ufffd', '\ud800',
    '😀', 'ж', '*', '?', '>', 'corpus_a', 'x.7z', '.sql', 'makebackup=', 'archive=', 'tables=', 'archivename='];
  const noise = fc.array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 5 })), { maxLength: 6 }).map((p) => p.join(''));
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, salt: number) => fc.sample(arb, { seed: SEED + salt, numRuns: n });
  const headerSafe = (s: string) => s.replace(/[\r\n]/g, '');
  const cases: Case[] = [];
  sample(fc.tuple(noise, noise), 15, 1).forEach(([a, b], i) => {
    cases.push({ subject: 'makebackup', label: `gen body ${i}`, body: `makebackup=corpus_missing_${i},${a}${b}` });
    cases.push({ subject: 'makebackup', label: `gen header ${i}`, body: b, headers: [['tables', headerSafe(`${a},corpus_missing_${i}`)]] });
  });
  sample(fc.tuple(noise, noise), 15, 2).forEach(([a, b], i) => {
    cases.push({ subject: 'archive', label: `gen body ${i}`, body: `archivename=${a}missing-${i}${b}` });
    cases.push({ subject: 'archive', label: `gen header ${i}`, body: 'archive', headers: [['archivename', headerSafe(`${b}missing-${i}${a}`)]] });
  });
  sample(fc.tuple(noise, noise), 15, 3).forEach(([a, b], i) => {
    cases.push({ subject: 'restore', label: `gen body ${i}`, body: i % 3 === 0 ? `archive=${a}missing-${i};tables=corpus_a` : `archive=${real};tables=corpus_missing_${i},${a}${b}` });
    cases.push({ subject: 'restore', label: `gen header ${i}`, body: b, headers: [['archivename', real], ['tables', headerSafe(`corpus_missing_${i}${a}`)]] });
  });
  sample(noise.filter((s) => wire(s).trim() !== 'listfiles'), 15, 4).forEach((a, i) => {
    cases.push({ subject: 'listbackups', label: `gen body ${i}`, body: a });
  });
  sample(fc.tuple(noise, noise), 10, 5).forEach(([a, b], i) => {
    cases.push({ subject: 'status', label: `gen body ${i}`, body: `${a}${b}` });
    cases.push({ subject: 'status', label: `gen header ${i}`, body: '', headers: [['job', headerSafe(`${a}${b}`) || 'x-unknown']] });
  });
  sample(fc.uint8Array({ minLength: 1, maxLength: 64 }), 15, 6).forEach((data, i) => {
    const subject = (['listbackups', 'makebackup', 'archive', 'restore', 'status'] as const)[i % 5]!;
    cases.push({ subject, label: `gen bytes ${i}`, body: data });
  });
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

function archiveKey(c: Case): string {
  let header: string | undefined;
  if (Array.isArray(c.headers)) header = c.headers.find(([k]) => k.toLowerCase() === 'archivename')?.[1];
  else if (c.headers) {
    try {
      for (const [k, v] of MsgHdrsImpl.decode(c.headers)) if (k.toLowerCase() === 'archivename') header ??= v[0];
    } catch {
      header = undefined;
    }
  }
  const given = (header !== undefined ? wire(header) : wire(c.body).replace(/^\s*archivename=/, '')).trim();
  // As sent, unless that reply would exceed the server's max_payload (less the 2 KiB kept for headers).
  const bodyLimit = (nc.info?.max_payload ?? 1024 * 1024) - 2048;
  return Buffer.byteLength(pyJson({ [given]: 'bad' })) <= bodyLimit ? given : `${[...given].slice(0, 255).join('')}…`;
}

interface Outcome {
  body: string;
  headers: Record<string, string>;
}

async function send(subject: string, body: string | Uint8Array, given?: Case['headers']): Promise<Outcome> {
  let h: MsgHdrs | undefined;
  if (given instanceof Uint8Array) h = { encode: () => given } as unknown as MsgHdrs;
  else if (given && given.length > 0) {
    h = natsHeaders();
    for (const [k, v] of given) h.append(k, v);
  }
  const msg = await nc.request(subject, body, { timeout: TIMEOUT_MS, headers: h });
  const headers: Record<string, string> = {};
  if (msg.headers) for (const [key, values] of msg.headers) headers[key] = values.join(',');
  return { body: new TextDecoder().decode(msg.data), headers };
}

function check(c: Case, reply: Outcome): string[] {
  const problems: string[] = [];
  const expected = c.subject === 'archive' ? pyJson({ [archiveKey(c)]: 'bad' }) : BAD_BODY[c.subject];
  if (reply.body !== expected) problems.push(`body ${JSON.stringify(reply.body.slice(0, 200))}, expected ${JSON.stringify(expected.slice(0, 200))}`);
  const code = reply.headers['Nats-Service-Error-Code'];
  const allowed = c.code ? [String(c.code)] : ['400', '404'];
  if (!code || !allowed.includes(code)) problems.push(`code ${code}, expected ${allowed.join(' or ')}`);
  const reason = reply.headers['Nats-Service-Error'];
  if (!reason || reason.trim() === '') problems.push('no Nats-Service-Error reason');
  if (reply.headers['Backup-Job-Id']) problems.push(`a job was queued: ${reply.headers['Backup-Job-Id']}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// What must not change

interface Snapshot {
  files: Record<string, string>;
  outside: Record<string, string>;
  tables: string[];
  checksums: Record<string, string>;
  jobs: { messages: number; lastSeq: number };
  objects: { messages: number; lastSeq: number };
}

function walk(root: string, into: Record<string, string> = {}, prefix = ''): Record<string, string> {
  for (const name of readdirSync(join(root, prefix))) {
    const rel = join(prefix, name);
    const st = lstatSync(join(root, rel));
    into[rel] = `${st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file'} ${st.size} ${st.mtimeMs} ${st.ino}`;
    if (st.isDirectory()) walk(root, into, rel);
  }
  return into;
}

async function snapshot(): Promise<Snapshot> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
  // Only the tables this test owns: other test runs may share the database meanwhile.
  const tables = rows.map((r) => String(r.name)).filter((n) => n.toLowerCase().startsWith('corpus')).sort();
  const checksums: Record<string, string> = {};
  for (const table of TABLES) checksums[table] = await checksum(db, table);
  const jsm = await jetstreamManager(nc);
  const jobs = (await jsm.streams.info(service.stream)).state;
  const objects = (await jsm.streams.info(`OBJ_${service.bucket}`)).state;
  return {
    files: walk(service.backupDir),
    outside: walk(outside),
    tables,
    checksums,
    jobs: { messages: jobs.messages, lastSeq: jobs.last_seq },
    objects: { messages: objects.messages, lastSeq: objects.last_seq },
  };
}

describe('hostile requests', () => {
  it('are each refused with the seed bad body and a 400/404 reason, and change nothing', async () => {
    const cases = [...handWritten(), ...generated()];
    const before = await snapshot();
    expect(before.files[`.${real}`]).toBeDefined();
    const logsBefore = service.logs.length;
    const started = performance.now();
    const failures: string[] = [];
    const counts: Record<string, number> = {};
    for (const c of cases) {
      counts[c.subject] = (counts[c.subject] ?? 0) + 1;
      const form = Array.isArray(c.headers) ? 'headers' : c.headers ? 'raw headers' : 'body';
      counts[form] = (counts[form] ?? 0) + 1;
      try {
        const problems = check(c, await send(`${service.prefix}.${c.subject}`, c.body, c.headers));
        if (problems.length > 0) failures.push(`${c.subject} / ${c.label}: ${problems.join('; ')}`);
      } catch (err) {
        failures.push(`${c.subject} / ${c.label}: no reply (${String(err)})`);
      }
    }
    // The detailed listing takes any body: hostile ones get the listing, and change nothing either.
    for (const [body, headers] of [['\u0000', undefined], ['x'.repeat(100_000), undefined], [bytes([0xff]), [['tables', '../x']]],
      ['archivename=../etc/passwd', [['archivename', '../../etc/passwd']]], ['', RAW_HEADERS[0]![1]]] as [string | Uint8Array, Case['headers']][]) {
      const reply = await send(`${service.prefix}.backups`, body, headers);
      if (!reply.body.startsWith('{"status":"ok","archives":[') || reply.headers['Nats-Service-Error-Code']) failures.push(`backups: ${reply.body.slice(0, 200)}`);
    }
    const elapsed = performance.now() - started;
    console.log(`corpus: ${cases.length} malformed requests (${JSON.stringify(counts)}) + 5 to backups in ${Math.round(elapsed)} ms`);
    expect(cases.length).toBeGreaterThanOrEqual(200);
    expect(failures).toEqual([]);

    await new Promise((r) => setTimeout(r, 500)); // anything wrongly queued would have started by now
    const after = await snapshot();
    expect(after).toEqual(before);
    const errors = service.logs.slice(logsBefore).filter((line) => Number(line.level) >= 50 || line.msg === 'request failed');
    expect(errors).toEqual([]);
  });

  it('leave the service working: a valid backup (a name with a backtick too) is made and listed', async () => {
    const reply = await request(nc, `${service.prefix}.makebackup`, 'makebackup=corpus_a, corpus`tick');
    expect(reply.body).toMatch(/^\{"status": "ok", "futurefilename": "/);
    const path = (JSON.parse(reply.body) as { futurefilename: string }).futurefilename;
    expect(path.startsWith(`${service.backupDir}/`)).toBe(true);
    const state = await waitForJob(nc, service.prefix, reply.headers['Backup-Job-Id']!);
    expect(state.status, state.reason).toBe('done');
    expect(lstatSync(path).isFile()).toBe(true);
    const listed = await request(nc, `${service.prefix}.archive`, 'archive', { archivename: basename(path) });
    const tables = (JSON.parse(listed.body) as { tables: string }).tables.split(',').sort();
    expect(tables).toEqual(['corpus_a.sql', 'corpus`tick.sql']);
  });
});
