import type { z } from 'zod';

/** One problem in a policy: `path` is the field, dotted (`roles.coder.session_token_limit`). */
export interface PolicyIssue {
  path: string;
  message: string;
}

/** Thrown for any policy that cannot be used: a bad field, an unreadable file, bad JSON/YAML. */
export class PolicyError extends Error {
  readonly code = 'POLICY_INVALID';
  readonly issues: PolicyIssue[];

  constructor(message: string, issues: PolicyIssue[], options?: ErrorOptions) {
    super(message, options);
    this.name = 'PolicyError';
    this.issues = issues;
  }

  /** `Invalid policy in <source>: <path>: <message>; ...` */
  static fromIssues(issues: PolicyIssue[], source?: string): PolicyError {
    const where = source === undefined ? 'Invalid policy' : `Invalid policy in ${source}`;
    const details = issues.map((i) => `${i.path === '' ? '(root)' : i.path}: ${i.message}`);
    return new PolicyError(`${where}: ${details.join('; ')}`, issues);
  }
}

const PLAIN_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** `['models', 'gpt-4.1', 'input_per_million']` -> `models["gpt-4.1"].input_per_million`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && PLAIN_SEGMENT.test(segment))
      out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

export function issueAt(segments: readonly PropertyKey[], message: string): PolicyIssue {
  return { path: formatPath(segments), message };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') {
    const text = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return JSON.stringify(text);
  }
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function isScalar(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && value !== undefined);
}

const LEAF_CODES = new Set(['invalid_type', 'too_small', 'too_big', 'invalid_value', 'custom']);

/**
 * Turns zod issues (parsed with `reportInput: true`) into policy issues that name the field.
 * `allowedKeysAt` lists the keys allowed at an object's path, for the "unknown key" hint.
 */
export function issuesFromZod(
  error: z.ZodError,
  allowedKeysAt: (path: readonly PropertyKey[]) => readonly string[] | undefined,
): PolicyIssue[] {
  return dedupe(collect(error.issues, [], allowedKeysAt));
}

/** A union's branch that failed on the value's shape alone (a list given where a mapping is expected). */
function wrongShape(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0;
}

function collect(
  list: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[],
  allowedKeysAt: (path: readonly PropertyKey[]) => readonly string[] | undefined,
): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const issue of list) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      // A section that may take several shapes (`pools`: a list or a mapping): the
      // problems of the shape that was given, else what the shapes are.
      const branches = issue.errors.filter((b) => !wrongShape(b));
      if (branches.length === 1 && branches[0] !== undefined) {
        issues.push(...collect(branches[0], path, allowedKeysAt));
      } else {
        issues.push(issueAt(path, `${issue.message} (got ${describe(issue.input)})`));
      }
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(path);
      const hint = allowed === undefined ? '' : ` (allowed: ${allowed.join(', ')})`;
      for (const key of issue.keys) issues.push(issueAt([...path, key], `unknown key${hint}`));
    } else if (issue.code === 'invalid_key') {
      issues.push(issueAt(path, issue.issues[0]?.message ?? 'invalid name'));
    } else if (
      issue.code === 'invalid_type' &&
      (issue.expected === 'object' || issue.expected === 'record')
    ) {
      issues.push(issueAt(path, `expected a mapping, got ${describe(issue.input)}`));
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      issues.push(issueAt(path, `required: ${issue.message}`));
    } else if (LEAF_CODES.has(issue.code) && isScalar(issue.input)) {
      issues.push(issueAt(path, `${issue.message} (got ${describe(issue.input)})`));
    } else {
      issues.push(issueAt(path, issue.message));
    }
  }
  return issues;
}

function dedupe(issues: PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
