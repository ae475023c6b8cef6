import { stat } from 'node:fs/promises';
import { inspectArchive, type Inspection } from '../archive/reader.js';
import { MANIFEST_ENTRY } from '../archive/manifest.js';
import type { ArchiveName } from '../names.js';
import type { BackupDir, LocalArchive } from './local.js';

export type Description =
  | { ok: true; tables: string[] }
  | { ok: false; code: 404 | 409; reason: string };

const CACHE_LIMIT = 256;

/**
 * What the backups are and what each holds. Testing an archive reads all of it, so a result is
 * kept for as long as the file keeps its size and modification time.
 */
export class Catalog {
  private readonly inspections = new Map<string, { key: string; inspection: Inspection }>();

  constructor(readonly dir: BackupDir) {}

  list(): Promise<LocalArchive[]> {
    return this.dir.list();
  }

  async describe(name: ArchiveName): Promise<Description> {
    const path = this.dir.pathOf(name);
    let key: string;
    try {
      const info = await stat(path);
      if (!info.isFile()) return { ok: false, code: 404, reason: `${name} is not a file` };
      key = `${info.size}:${info.mtimeMs}:${info.ino}`;
    } catch {
      return { ok: false, code: 404, reason: `archive ${name} not found` };
    }
    let cached = this.inspections.get(name);
    if (cached?.key !== key) {
      cached = { key, inspection: await inspectArchive(path) };
      this.inspections.delete(name);
      if (this.inspections.size >= CACHE_LIMIT) this.inspections.delete(this.inspections.keys().next().value as string);
      this.inspections.set(name, cached);
    }
    const { inspection } = cached;
    if (!inspection.ok) return { ok: false, code: 409, reason: `archive ${name} is unreadable: ${inspection.reason}` };
    const tables = inspection.entries.filter((e) => e.name !== MANIFEST_ENTRY && e.name.endsWith('.sql'));
    const empty = tables.filter((e) => e.size === 0);
    if (empty.length > 0) return { ok: false, code: 409, reason: `archive ${name} holds empty ${empty.map((e) => e.name).join(', ')}` };
    if (tables.length === 0) return { ok: false, code: 409, reason: `archive ${name} holds no table` };
    return { ok: true, tables: tables.map((e) => e.name) };
  }
}
