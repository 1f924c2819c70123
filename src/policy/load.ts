import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { PolicyError } from './errors.js';
import { createPolicy, type Policy } from './policy.js';

const EXTENSIONS = ['.json', '.yaml', '.yml'] as const;
type Format = 'json' | 'yaml';

function fail(message: string, cause?: unknown): PolicyError {
  return new PolicyError(
    message,
    [{ path: '', message }],
    cause === undefined ? undefined : { cause },
  );
}

function formatOf(path: string): Format {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  const shown = ext === '' ? 'no extension' : `extension "${ext}"`;
  throw fail(`Cannot load policy file ${path}: ${shown}; use ${EXTENSIONS.join(', ')}`);
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
};

async function readText(path: string): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.startsWith('\uFEFF') ? text.slice(1) : text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code !== undefined && Object.hasOwn(READ_ERRORS, code)
        ? `${READ_ERRORS[code]} (${code})`
        : (err as Error).message;
    throw fail(`Cannot read policy file ${path}: ${reason}`, err);
  }
}

function parseText(text: string, format: Format, path: string): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw fail(`Invalid JSON in policy file ${path}: ${(err as Error).message}`, err);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  // Warnings (an unresolved tag, a non-scalar key...) are refused too: the file is strict.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    throw fail(`Invalid YAML in policy file ${path}: ${problem.message}`, problem);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw fail(`Invalid YAML in policy file ${path}: ${(err as Error).message}`, err);
  }
}

/**
 * Reads a policy file (JSON for `.json`, YAML for `.yaml`/`.yml`) and merges it onto the
 * defaults; no path means the defaults. Throws PolicyError with the path in its message.
 */
export async function loadPolicy(path?: string): Promise<Policy> {
  if (path === undefined) return createPolicy();
  const format = formatOf(path);
  const text = await readText(path);
  return createPolicy(parseText(text, format, path), path);
}
