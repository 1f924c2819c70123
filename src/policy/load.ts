import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { PolicyError, type PolicyIssue } from './errors.js';
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

/** YAML problems after which the document still reads as written (its schema can be checked too). */
const READABLE = new Set(['DUPLICATE_KEY', 'MULTIPLE_DOCS', 'TAG_RESOLVE_FAILED']);

/** One YAML problem on one line: `Map keys must be unique at line 2, column 1`. */
function yamlProblem(e: { message: string }): string {
  return (e.message.split('\n')[0] ?? '').replace(/:\s*$/, '');
}

/**
 * Throws a PolicyError listing every YAML problem at once; when the document
 * still reads as written (duplicate keys, several documents, unknown tags),
 * its schema problems too, so that one round of fixing is enough.
 */
function yamlFailure(
  path: string,
  problems: readonly { code: string; message: string }[],
  value: () => unknown,
): PolicyError {
  const found = problems.map(yamlProblem);
  const issues: PolicyIssue[] = found.map((message) => ({ path: '', message }));
  let more: PolicyIssue[] = [];
  if (problems.every((p) => READABLE.has(p.code))) {
    try {
      createPolicy(value(), path);
    } catch (e) {
      if (e instanceof PolicyError) more = e.issues;
    }
  }
  const details = [
    ...found,
    ...more.map((i) => `${i.path === '' ? '(root)' : i.path}: ${i.message}`),
  ];
  return new PolicyError(`Invalid YAML in policy file ${path}: ${details.join('; ')}`, [
    ...issues,
    ...more,
  ]);
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
  const toJS = () => doc.toJS({ maxAliasCount: 100 }) as unknown;
  // Warnings (an unresolved tag, a non-scalar key...) are refused too: the file is strict.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw yamlFailure(path, problems, toJS);
  try {
    return toJS();
  } catch (err) {
    throw fail(`Invalid YAML in policy file ${path}: ${(err as Error).message}`, err);
  }
}

/**
 * A policy file's document as written (JSON for `.json`, YAML for `.yaml`/`.yml`), not yet
 * checked nor merged: what `PUT /v1/policy` takes (the server merges it onto its own
 * defaults). Throws PolicyError for a file that cannot be read or parsed (every YAML
 * problem at once).
 */
export async function readPolicyFile(path: string): Promise<unknown> {
  const format = formatOf(path);
  return parseText(await readText(path), format, path);
}

/**
 * Reads a policy file (JSON for `.json`, YAML for `.yaml`/`.yml`) and merges it onto the
 * defaults; no path means the defaults. Throws PolicyError with the path in its message.
 */
export async function loadPolicy(path?: string): Promise<Policy> {
  if (path === undefined) return createPolicy();
  return createPolicy(await readPolicyFile(path), path);
}
