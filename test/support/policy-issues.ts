import { expect } from 'vitest';
import { PolicyError } from '../../src/index.js';

/** The issues (`path: message`) of the PolicyError that `run` throws; fails if it throws none. */
export function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as PolicyError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a PolicyError');
}
