import { readFileSync } from 'node:fs';

/** lua/ at the package root (the same relative path from src/ and from dist/). */
const LUA_DIR = new URL('../../../lua/', import.meta.url);
const INCLUDE = /^--- @include "([a-zA-Z0-9/_-]+)"$/gm;

/** The text of lua/<name>.lua with its `--- @include "includes/x"` lines expanded. */
export function loadScript(name: string): string {
  const text = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return text.replace(INCLUDE, (_line, inc: string) =>
    readFileSync(new URL(`${inc}.lua`, LUA_DIR), 'utf8'),
  );
}
