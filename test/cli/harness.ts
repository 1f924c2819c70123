/** What the in-process CLI tests share: a run of `runCli` with its output captured, and its one JSON value. */
import { expect } from 'vitest';
import { runCli } from '../../src/cli/index.js';
import { type Captured, capture } from '../support/capture.js';

/** `tollgate <argv>` in process, with `env` and `extraEnv` over it: its exit code and output. */
export async function runWith(
  env: NodeJS.ProcessEnv,
  argv: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: Captured }> {
  const out = capture();
  const code = await runCli(argv, { ...env, ...extraEnv }, out);
  return { code, out };
}

/** The one JSON value a `--json` command printed, and nothing else (no error, no text). */
// biome-ignore lint/suspicious/noExplicitAny: CLI JSON output, checked by each test
export function only(out: Captured): any {
  expect(out.errors).toEqual([]);
  expect(out.values).toHaveLength(1);
  expect(out.text).toEqual([]);
  return out.values[0];
}
