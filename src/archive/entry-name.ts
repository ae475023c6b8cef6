/**
 * Which archive entry names the archive layer accepts. Everything else (spaces, non-ASCII letters,
 * `*`, `?`, `!`, a leading `-` or `@`, backslashes) is passed to 7-Zip inside a switch
 * (`-si<name>`, `-i!<name>`) with wildcards disabled (`-spd`), so it is stored and matched literally.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Throws unless `name` is a relative entry path that 7-Zip stores and lists back unchanged. */
export function assertEntryName(name: string): void {
  if (typeof name !== 'string' || name === '') throw new Error('archive entry name is empty');
  const shown = JSON.stringify(name);
  // A newline would break 7-Zip's line-based output (listing, extraction report); NUL cannot be an argument.
  if (CONTROL.test(name)) throw new Error(`archive entry name ${shown} holds a control character`);
  // Node would send a lone surrogate as U+FFFD: the stored name would differ from the one asked for.
  if (/[\ud800-\udfff]/.test(name.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
    throw new Error(`archive entry name ${shown} is not well-formed Unicode`);
  }
  // 7-Zip stores `/abs` and `../x` as given; extracting such an archive elsewhere would escape the target dir.
  if (name.startsWith('/') || name.endsWith('/')) throw new Error(`archive entry name ${shown} starts or ends with "/"`);
  if (name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw new Error(`archive entry name ${shown} has an empty, "." or ".." path segment`);
  }
  // 7-Zip on Windows treats "\\" as a separator too.
  if (name.split(/[/\\]/).some((seg) => seg === '..')) throw new Error(`archive entry name ${shown} has a ".." path segment`);
}
