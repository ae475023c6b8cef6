import type { ServiceClient } from './client.js';
import { formatBytes, formatCount, formatTable } from './format.js';
import { downloadArchive } from './object-download.js';

/** An archive as `<prefix>.backups` lists it. */
interface ListedArchive {
  name: string;
  stored: 'local' | 'object' | 'both';
  size: number;
  created: string;
  tables: string[] | null;
  sha256: string | null;
  bucket?: string;
  digest?: string;
  conflict?: string;
}

/** One archive as `<prefix>.backups {"archive": …}` describes it. */
interface ArchiveDetail extends Omit<ListedArchive, 'tables'> {
  path?: string;
  database: string | null;
  snapshotTime: string | null;
  tables: { entry: string; table: string; rows: number | null; bytes: number | null; sha256: string | null }[];
  manifest?: string;
}

type Print = (text: string) => void;

export async function listArchives(client: ServiceClient, json: boolean, print: Print): Promise<void> {
  const { archives } = await client.requestJson<{ archives: ListedArchive[] }>('backups', '');
  if (json) return print(JSON.stringify(archives, null, 2));
  if (archives.length === 0) return print('no archives');
  const rows = archives.map((a) => [a.name, a.stored + (a.conflict ? ' (CONFLICT)' : ''), formatBytes(a.size), a.created, (a.tables ?? ['?']).map(tableOf).join(',')]);
  print(formatTable(['ARCHIVE', 'STORED', 'SIZE', 'CREATED', 'TABLES'], rows));
  for (const a of archives) if (a.conflict) print(`conflict: ${a.conflict}`);
}

export async function showArchive(client: ServiceClient, name: string, json: boolean, print: Print): Promise<void> {
  const { archive } = await client.requestJson<{ archive: ArchiveDetail }>('backups', JSON.stringify({ archive: name }));
  if (json) return print(JSON.stringify(archive, null, 2));
  const where = [archive.path && `local ${archive.path}`, archive.bucket && `bucket ${archive.bucket} (${archive.digest})`].filter(Boolean).join('; ');
  const fields: [string, string | null | undefined][] = [
    ['archive', archive.name],
    ['stored', `${archive.stored}: ${where}`],
    ['size', `${formatBytes(archive.size)} (${archive.size} bytes)`],
    ['created', archive.created],
    ['database', archive.database],
    ['snapshot', archive.snapshotTime],
    ['sha256', archive.sha256],
    ['manifest', archive.manifest],
    ['CONFLICT', archive.conflict],
  ];
  print(keyValues(fields));
  print('');
  const rows = archive.tables.map((t) => [t.table, t.rows === null ? '?' : formatCount(t.rows), t.bytes === null ? '?' : formatBytes(t.bytes)]);
  if (archive.tables.length > 1 && archive.tables.every((t) => t.rows !== null && t.bytes !== null)) {
    const sum = (pick: (t: ArchiveDetail['tables'][number]) => number | null) => archive.tables.reduce((n, t) => n + (pick(t) ?? 0), 0);
    rows.push(['(total)', formatCount(sum((t) => t.rows)), formatBytes(sum((t) => t.bytes))]);
  }
  print(formatTable(['TABLE', 'ROWS', 'SQL BYTES'], rows, [1, 2]));
}

export async function getArchive(client: ServiceClient, name: string, output: string | undefined, force: boolean, print: Print): Promise<void> {
  const done = await downloadArchive(client, name, output ?? name, force);
  print(keyValues([
    ['written', done.path],
    ['size', `${formatBytes(done.size)} (${done.size} bytes)`],
    ['sha256', `${done.sha256} (matches the object's digest ${done.digest})`],
  ]));
}

/** `key   value` lines, keys padded; empty values left out. */
export function keyValues(fields: [string, string | null | undefined][]): string {
  const shown = fields.filter((f): f is [string, string] => f[1] !== null && f[1] !== undefined && f[1] !== '');
  const width = Math.max(...shown.map(([key]) => key.length));
  return shown.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}

function tableOf(entry: string): string {
  return entry.replace(/\.sql$/, '');
}
