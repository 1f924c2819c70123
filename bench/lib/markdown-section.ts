/** Replaces one `## heading` section of a markdown file, keeping every other section. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes `body` (which starts with the heading line itself) in place of the
 * section that starts with the line `heading` and runs to the next `## `
 * heading or the end of the file; appends it when there is no such section,
 * and creates the file (with `title` as its first line) when it is missing.
 */
export function replaceSection(file: string, heading: string, body: string, title: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : `${title}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  const section = body.trimEnd().split('\n');
  let out: string[];
  if (start < 0) {
    while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
    out = [...lines, '', ...section, ''];
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    const after = lines.slice(end);
    out = [...lines.slice(0, start), ...section, ...(after.length > 0 ? ['', ...after] : [''])];
  }
  writeFileSync(file, out.join('\n'));
}
