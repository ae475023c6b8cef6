import type { Inspection } from '../archive/reader.js';
import { MANIFEST_ENTRY } from '../archive/manifest.js';
import { ConflictError } from '../errors.js';
import type { ArchiveName } from '../names.js';
import type { LocalArchive } from './local.js';
import type { StoredArchive } from './stored-archive.js';

/** Where an archive is: the backup directory, the Object Store bucket, or both. */
export type Place = 'local' | 'object' | 'both';

export interface CatalogEntry {
  name: ArchiveName;
  stored: Place;
  /** Bytes of the `.7z` (the local file's when there is one). */
  size: number;
  /** When the backup was made, ISO 8601. */
  created: string;
  local?: LocalArchive;
  object?: StoredArchive;
  /** Set when both places hold the name but not the same bytes: neither copy is used. */
  conflict?: string;
}

export type TablesOf = { ok: true; tables: string[] } | { ok: false; reason: string };

/** The table entries of a tested archive, in its own order, or why it is not a backup. */
export function tablesOf(name: string, inspection: Inspection): TablesOf {
  if (!inspection.ok) return { ok: false, reason: `archive ${name} is unreadable: ${inspection.reason}` };
  const tables = inspection.entries.filter((e) => e.name !== MANIFEST_ENTRY && e.name.endsWith('.sql'));
  const empty = tables.filter((e) => e.size === 0);
  if (empty.length > 0) return { ok: false, reason: `archive ${name} holds empty ${empty.map((e) => e.name).join(', ')}` };
  if (tables.length === 0) return { ok: false, reason: `archive ${name} holds no table` };
  return { ok: true, tables: tables.map((e) => e.name) };
}

/** An archive that is not a usable backup exists but cannot be used: ConflictError. */
export function usable(tables: TablesOf): string[] {
  if (!tables.ok) throw new ConflictError(tables.reason);
  return tables.tables;
}

export function entryOf(local: LocalArchive | undefined, object: StoredArchive | undefined): CatalogEntry {
  const name = (local?.name ?? object?.name) as ArchiveName;
  const created = object?.metadata.created ?? new Date(local?.mtimeMs ?? Date.parse(object?.mtime ?? '')).toISOString();
  const entry: CatalogEntry = {
    name,
    stored: local && object ? 'both' : local ? 'local' : 'object',
    size: local?.size ?? object?.size ?? 0,
    created,
    ...(local && { local }),
    ...(object && { object }),
  };
  if (local && object && local.size !== object.size) {
    entry.conflict = conflictOf(name, `${local.size} bytes`, `${object.size} bytes`);
  }
  return entry;
}

export function conflictOf(name: string, local: string, object: string): string {
  return `archive ${name} differs between the backup directory (${local}) and the object store (${object}); remove the wrong copy`;
}

export function sortable(entry: CatalogEntry): { name: ArchiveName; size: number; mtimeMs: number } {
  return { name: entry.name, size: entry.size, mtimeMs: entry.local?.mtimeMs ?? Date.parse(entry.created) };
}
