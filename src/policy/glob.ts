/**
 * Model globs (a role's `models` in the policy): `*` matches any run of
 * characters (none included), `?` exactly one; every other character matches
 * itself. Anchored: the glob must match the whole name. Names and globs hold
 * no other special characters (MODEL_NAME_PATTERN, MODEL_GLOB_PATTERN).
 */

/**
 * True when `glob` matches all of `name`. Linear in practice: on a mismatch it
 * goes back to the last `*` only (the classic greedy matcher), never further.
 */
export function globMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    const c = glob[g];
    if (c === '*') {
      star = g++;
      resume = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      g++;
      n++;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}

/** True when any glob matches the name; `undefined` (no list) matches every name. */
export function anyGlobMatches(globs: readonly string[] | undefined, name: string): boolean {
  return globs === undefined || globs.some((g) => globMatches(g, name));
}
