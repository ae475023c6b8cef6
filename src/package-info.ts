import { readFileSync } from 'node:fs';

/** The project's package.json (one level above src/ and dist/): the service's name and version. */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
  description: string;
};

export const PACKAGE_NAME = pkg.name;
export const PACKAGE_VERSION = pkg.version;
export const PACKAGE_DESCRIPTION = pkg.description;
