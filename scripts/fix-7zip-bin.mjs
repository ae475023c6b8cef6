// 7zip-bin ships its 7za without the exec bit; node-7z then fails with EACCES.
import { chmodSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
try {
  const { path7za } = require('7zip-bin');
  if (existsSync(path7za)) chmodSync(path7za, 0o755);
} catch {
  // 7zip-bin not installed yet (e.g. a partial install): nothing to fix.
}
