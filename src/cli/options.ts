import { UsageError } from './remote.js';

/**
 * Option values checked before anything is sent (a bad one is a usage error,
 * exit 2, naming the option); the API's schemas check the rest.
 */

/** A JSON object, e.g. `--metadata '{"team":"payments"}'`. */
export function jsonObject(
  name: string,
  text: string | undefined,
): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${name}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError(`${name}: expected a JSON object such as '{"team":"payments"}'`);
  }
  return v as Record<string, unknown>;
}

/** A whole number from `min` to `max`. */
export function integer(
  name: string,
  text: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      `${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** A whole number, 0 or more (the API checks its bounds). */
export function count(name: string, text: string | undefined): number | undefined {
  return integer(name, text, 0, Number.MAX_SAFE_INTEGER);
}

/** USD, e.g. `12.5` (a leading `$` is accepted). */
export function dollars(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim().replace(/^\$/, '');
  const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new UsageError(
      `${name}: expected an amount in USD such as 12.5, got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** One of `choices`. */
export function oneOf<T extends string>(
  name: string,
  text: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${name}: expected ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** A required option. */
export function required<T>(name: string, value: T | undefined, what = name): T {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}
