import { MsgHdrsImpl, type Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { echoed } from '../src/api/archive.js';
import { pyJson } from '../src/api/pyjson.js';
import { requestParts } from '../src/api/reply.js';
import { parseArchiveRequest, parseBackupRequest, parseListRequest, parseRestoreRequest, parseStatusRequest, type RequestParts } from '../src/api/request.js';
import { loadConfig } from '../src/config.js';
import { archiveNameFor } from '../src/backup/names.js';
import { compareArchives } from '../src/store/local.js';

function req(body: string, headers: Record<string, string> = {}): RequestParts {
  return { body, header: (name) => Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] };
}

/** A request as the service decodes it from a NATS message: headers may repeat, in any letter case. */
function wireReq(body: string, headers: [string, string][] = []): RequestParts {
  const h = new MsgHdrsImpl();
  for (const [k, v] of headers) h.append(k, v);
  return requestParts({ data: new TextEncoder().encode(body), headers: headers.length > 0 ? h : undefined } as unknown as Msg);
}

describe('pyJson writes what Python json.dumps wrote', () => {
  it('uses ", " and ": " and escapes non-ASCII', () => {
    expect(pyJson({ status: 'ok', futurefilename: '/b/x.7z' })).toBe('{"status": "ok", "futurefilename": "/b/x.7z"}');
    expect(pyJson({ tables: 'заказы.sql,😀.sql' })).toBe('{"tables": "\\u0437\\u0430\\u043a\\u0430\\u0437\\u044b.sql,\\ud83d\\ude00.sql"}');
    expect(pyJson({ 'a"b': 'tab\there\u007f' })).toBe('{"a\\"b": "tab\\there\u007f"}');
    expect(pyJson({})).toBe('{}');
  });
});

describe('request forms', () => {
  it('listbackups wants the body listfiles', () => {
    expect(parseListRequest(req('listfiles')).ok).toBe(true);
    expect(parseListRequest(req(' listfiles\n')).ok).toBe(true);
    expect(parseListRequest(req('list')).ok).toBe(false);
  });

  it('makebackup: header form wins over any body; body form trims names', () => {
    expect(parseBackupRequest(req('whatever', { tables: 'a, b' }))).toEqual({ ok: true, value: ['a', 'b'] });
    expect(parseBackupRequest(req('makebackup= a , b'))).toEqual({ ok: true, value: ['a', 'b'] });
    expect(parseBackupRequest(req('makebackup=order items,заказы'))).toEqual({ ok: true, value: ['order items', 'заказы'] });
  });

  it('makebackup refuses empty, duplicate and unsafe names', () => {
    for (const body of ['', 'makebackup', 'makebackup=', 'makebackup=a,,b', 'makebackup=a,a', 'makebackup=a/b', 'makebackup=.a', 'makebackup=a\u0000', 'x=a', 'makebackup=a;makebackup=b']) {
      const parsed = parseBackupRequest(req(body));
      expect(parsed.ok, body).toBe(false);
      if (!parsed.ok) expect(parsed.error.kind).toBe('bad-request');
    }
  });

  it('archive: header or body, plain file names only', () => {
    expect(parseArchiveRequest(req('archivename=x.7z'))).toEqual({ ok: true, value: 'x.7z' });
    expect(parseArchiveRequest(req('archive', { archivename: ' x.7z ' }))).toEqual({ ok: true, value: 'x.7z' });
    for (const name of ['../x.7z', 'a/b.7z', 'a\\b.7z', '.x.7z', '..', 'x\u0000.7z', '']) {
      expect(parseArchiveRequest(req(`archivename=${name}`)).ok, name).toBe(false);
    }
  });

  it('restore: both forms, names with or without .sql', () => {
    const expected = { ok: true, value: { archive: 'x.7z', tables: ['a', 'b'] } };
    expect(parseRestoreRequest(req('archive=x.7z;tables=a.sql, b'))).toEqual(expected);
    expect(parseRestoreRequest(req('archive', { archivename: 'x.7z', tables: 'a,b.sql' }))).toEqual(expected);
    for (const body of ['archive=x.7z', 'tables=a', 'archive=x.7z;tables=', 'archive=x.7z;tables=a;tables=b', 'archive=x.7z;tables=a;extra=1', 'archive=x.7z,tables=a']) {
      expect(parseRestoreRequest(req(body)).ok, body).toBe(false);
    }
    expect(parseRestoreRequest(req('', { archivename: 'x.7z' })).ok).toBe(false);
  });
});

describe('hostile requests', () => {
  it('refuses a header given twice, in any letter case, even with the same value', () => {
    for (const headers of [[['tables', 'a'], ['tables', 'b']], [['tables', 'a'], ['Tables', 'a']]] as [string, string][][]) {
      expect(parseBackupRequest(wireReq('makebackup', headers))).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('given 2 times') } });
      expect(parseRestoreRequest(wireReq('archive', [['archivename', 'x.7z'], ...headers]))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    }
    expect(parseArchiveRequest(wireReq('archive', [['archivename', 'x.7z'], ['ARCHIVENAME', '../y.7z']]))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    expect(parseStatusRequest(wireReq('', [['job', 'a'], ['job', 'b']]))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    // One header, once: still fine.
    expect(parseBackupRequest(wireReq('makebackup', [['Tables', 'a,b']]))).toEqual({ ok: true, value: ['a', 'b'] });
  });

  it('refuses headers that disagree with a form-2 body, accepts ones that agree, ignores any other body', () => {
    expect(parseBackupRequest(req('makebackup=b', { tables: 'a' }))).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('disagree') } });
    expect(parseBackupRequest(req('makebackup=a,,b', { tables: 'a,b' }))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    expect(parseBackupRequest(req('makebackup= b , a', { tables: 'a,b' }))).toEqual({ ok: true, value: ['a', 'b'] });
    expect(parseBackupRequest(req('tables=zzz', { tables: 'a' }))).toEqual({ ok: true, value: ['a'] });
    expect(parseArchiveRequest(req('archivename=y.7z', { archivename: 'x.7z' }))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    expect(parseArchiveRequest(req('archivename=../x.7z', { archivename: 'x.7z' }))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    expect(parseArchiveRequest(req('archivename=x.7z', { archivename: 'x.7z' }))).toEqual({ ok: true, value: 'x.7z' });
    const headers = { archivename: 'x.7z', tables: 'a,b' };
    for (const body of ['archive=y.7z;tables=a,b', 'archive=x.7z;tables=a', 'archive=x.7z', 'tables=a,b', 'archive=x.7z;tables=a,b;extra=1']) {
      expect(parseRestoreRequest(req(body, headers)), body).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    }
    expect(parseRestoreRequest(req('tables=b.sql,a;archive=x.7z', headers))).toEqual({ ok: true, value: { archive: 'x.7z', tables: ['a', 'b'] } });
  });

  it('status: the id in the body or the job header, and never two different ids', () => {
    const id = '3f0c2c4e-0000-4000-8000-000000000000';
    expect(parseStatusRequest(req(` ${id}\n`))).toEqual({ ok: true, value: id });
    expect(parseStatusRequest(req('', { job: id }))).toEqual({ ok: true, value: id });
    expect(parseStatusRequest(req(id, { job: id }))).toEqual({ ok: true, value: id });
    expect(parseStatusRequest(req('other-job', { job: id }))).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
    for (const body of ['', '../x', 'a b', 'x'.repeat(65), 'id\u0000']) expect(parseStatusRequest(req(body)), body).toMatchObject({ ok: false, error: { kind: 'bad-request' } });
  });

  it('refuses a request whose headers block does not decode, instead of throwing', () => {
    const raw = new TextEncoder().encode('NATS/1.0\r\nbad key: x.7z\r\n\r\n');
    const msg = { data: new TextEncoder().encode('listfiles'), get headers() { return MsgHdrsImpl.decode(raw); } } as unknown as Msg;
    const parts = requestParts(msg);
    expect(parts.header('archivename')).toBeUndefined();
    for (const parse of [parseListRequest, parseBackupRequest, parseArchiveRequest, parseRestoreRequest, parseStatusRequest]) {
      expect(parse(parts)).toMatchObject({ ok: false, error: { kind: 'bad-request', message: expect.stringContaining('malformed headers') } });
    }
  });

  it('the archive refusal echoes the name as sent while the reply fits max_payload, else its first 255 characters', () => {
    const limit = 1024 * 1024 - 2048;
    expect(echoed('../x.7z', limit)).toBe('../x.7z');
    expect(echoed('a'.repeat(300), limit)).toBe('a'.repeat(300));
    expect(echoed('ж'.repeat(100_000), limit)).toBe('ж'.repeat(100_000));
    expect(echoed('ж'.repeat(300_000), limit)).toBe(`${'ж'.repeat(255)}…`);
  });
});

describe('archive names', () => {
  it('follow the seed format, with a sequence for the same second, and sort oldest first', () => {
    const at = new Date(Date.UTC(2021, 10, 28, 17, 59, 19));
    expect(archiveNameFor(at, 1)).toBe('2021-11-28_17-59-19-backup.7z');
    expect(archiveNameFor(at, 2)).toBe('2021-11-28_17-59-19-backup-2.7z');
    const names = ['2021-11-28_17-59-19-backup-10.7z', '2021-11-28_17-59-20-backup.7z', '2021-11-28_17-59-19-backup-2.7z', '2021-11-28_17-59-19-backup.7z'];
    const sorted = names.map((name) => ({ name, size: 0, mtimeMs: 0 }) as never).sort(compareArchives).map((a: { name: string }) => a.name);
    expect(sorted).toEqual(['2021-11-28_17-59-19-backup.7z', '2021-11-28_17-59-19-backup-2.7z', '2021-11-28_17-59-19-backup-10.7z', '2021-11-28_17-59-20-backup.7z']);
  });
});

describe('config', () => {
  it('has localhost defaults', () => {
    const config = loadConfig({});
    expect(config.natsServers).toEqual(['nats://127.0.0.1:4222']);
    expect(config.mysql).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
    expect(config.subjectPrefix).toBe('backup');
    expect(config.jobsStream).toBe('BACKUP_JOBS');
  });

  it('takes the password from MYSQL_PASSWORD over the URL', () => {
    expect(loadConfig({ MYSQL_URL: 'mysql://u:urlpass@db:3307/shop', MYSQL_PASSWORD: 'envpass' }).mysql).toMatchObject({
      host: 'db', port: 3307, user: 'u', password: 'envpass', database: 'shop',
    });
  });

  it('refuses bad values, naming each, without echoing a password', () => {
    expect(() => loadConfig({ SEVENZIP_LEVEL: '12', SUBJECT_PREFIX: 'a.*', NATS_URL: 'http://x' })).toThrow(/NATS_URL.*SUBJECT_PREFIX.*SEVENZIP_LEVEL/);
    try {
      loadConfig({ MYSQL_URL: 'mysql://u:s3cret@' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
  });
});
