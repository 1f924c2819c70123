import type { Out } from '../../src/cli/index.js';

/** An `Out` that keeps what the CLI wrote, for assertions. */
export interface Captured extends Out {
  text: string[];
  values: unknown[];
  errors: string[];
  /** Everything written to stdout as one string (text lines and JSON values). */
  readonly stdout: string;
  readonly stderr: string;
}

export function capture(): Captured {
  const text: string[] = [];
  const values: unknown[] = [];
  const errors: string[] = [];
  return {
    text,
    values,
    errors,
    line: (t) => text.push(t),
    json: (v) => values.push(v),
    error: (t) => errors.push(t),
    get stdout() {
      return [...text, ...values.map((v) => JSON.stringify(v))].join('\n');
    },
    get stderr() {
      return errors.join('\n');
    },
  };
}
