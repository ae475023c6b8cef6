import { inspectArchive, type Inspection } from './reader.js';

/** What was sent to 7-Zip for one entry. */
export interface WrittenEntry {
  bytes: number;
  /** CRC32 of those bytes as 7-Zip lists it: 8 hex digits, upper case. */
  crc: string;
}

export function crc32Hex(value: number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/**
 * A newly written archive, checked from its header: every entry is there with the size and the
 * CRC32 of the bytes that were sent to 7-Zip. That proves 7-Zip took in exactly what was sent,
 * without decompressing the archive again (a whole-archive test cost as much as 7-Zip's writing
 * of it); a restore's extraction checks every block's CRC as it reads it.
 */
export async function checkWritten(path: string, written: Map<string, WrittenEntry>, password?: string): Promise<Inspection> {
  const inspection = await inspectArchive(path, { test: false, passwords: password === undefined ? [] : [password] });
  if (!inspection.ok) throw new Error(`the new archive cannot be read: ${inspection.reason}`);
  for (const [name, { bytes, crc }] of written) {
    const entry = inspection.entries.find((e) => e.name === name);
    if (!entry || entry.size !== bytes || entry.crc !== crc) {
      const found = entry ? `${entry.size} bytes, CRC ${entry.crc ?? 'none'}` : 'missing';
      throw new Error(`the new archive holds a wrong ${name} (${found}; ${bytes} bytes with CRC ${crc} were written)`);
    }
  }
  return inspection;
}
