import type { Msg } from '@nats-io/transport-node';
import { MANIFEST_ENTRY, type Manifest } from '../archive/manifest.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { checkArchiveName } from '../names.js';
import type { ApiContext } from './context.js';
import { requestParts } from './reply.js';
import { orUnavailable } from './unavailable.js';

/**
 * The archive a `<prefix>.backups` request asks about: a JSON body `{"archive": "<name>"}`.
 * Any other body (empty, `listfiles`, other JSON) is the plain listing, as before: null.
 */
export function detailRequested(msg: Msg): { archive: unknown } | null {
  const { body } = requestParts(msg);
  if (!body.trimStart().startsWith('{')) return null;
  try {
    const parsed = JSON.parse(body) as unknown;
    return parsed !== null && typeof parsed === 'object' && 'archive' in parsed ? { archive: parsed.archive } : null;
  } catch {
    return null;
  }
}

/**
 * One archive in detail: where it is stored (the local path, the bucket and its digest), its
 * size, and per table the rows, SQL bytes and SHA-256 from its manifest.json. Only that small
 * entry is extracted: no CRC test of the archive in a request.
 */
export async function handleBackupDetail(msg: Msg, ctx: ApiContext, wanted: { archive: unknown }): Promise<void> {
  if (typeof wanted.archive !== 'string') throw new BadRequestError('"archive" must be a string (an archive name)');
  const checked = checkArchiveName(wanted.archive);
  if (!checked.ok) throw new BadRequestError(checked.reason);
  const entry = await orUnavailable('the catalog cannot be read', () => ctx.catalog.find(checked.value));
  if (!entry) throw new NotFoundError(`archive ${checked.value} not found`);
  let manifest: Manifest | null = null;
  let manifestProblem: string | undefined;
  try {
    manifest = await ctx.catalog.manifestOf(entry);
    if (!manifest) manifestProblem = entry.local ? `no readable ${MANIFEST_ENTRY} (an archive of the original tool?)` : `${MANIFEST_ENTRY} is not read from an archive only the bucket holds`;
  } catch (err) {
    manifestProblem = `${MANIFEST_ENTRY} cannot be read: ${(err as Error).message}`;
  }
  const listed = (await ctx.catalog.tablesListed(entry)) ?? Object.values(manifest?.tables ?? {}).map((t) => t.entry);
  const byEntry = new Map(Object.entries(manifest?.tables ?? {}).map(([table, summary]) => [summary.entry, { table, ...summary }]));
  const tables = listed.map((name) => {
    const summary = byEntry.get(name);
    return { entry: name, table: summary?.table ?? name.replace(/\.sql$/, ''), rows: summary?.rows ?? null, bytes: summary?.bytes ?? null, sha256: summary?.sha256 ?? null };
  });
  // A scheduled archive: named by the object's metadata, or by the local copy's manifest.
  const schedule = entry.object?.metadata.schedule ?? manifest?.schedule;
  const archive = {
    name: entry.name,
    stored: entry.stored,
    size: entry.size,
    created: entry.created,
    ...(entry.local && { path: ctx.catalog.dir.pathOf(entry.name) }),
    encrypted: await ctx.catalog.encrypted(entry),
    sha256: entry.object?.sha256 ?? null,
    ...(entry.object && { bucket: entry.object.bucket, digest: entry.object.digest }),
    database: manifest?.database ?? entry.object?.metadata.database ?? null,
    snapshotTime: manifest?.snapshotTime ?? null,
    ...(schedule && { schedule, slot: entry.object?.metadata.slot ?? manifest?.slot ?? null }),
    tables,
    ...(manifestProblem && { manifest: manifestProblem }),
    ...(entry.conflict && { conflict: entry.conflict }),
  };
  msg.respond(JSON.stringify({ status: 'ok', archive }));
}
