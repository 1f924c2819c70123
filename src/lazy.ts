/**
 * A property built on its first read, then kept as a plain value: the budget
 * status that every decision and settle carries (parsed from the script's
 * packed state, then shaped for the wire) is built only if something reads
 * it. A metered model call reads neither (docs/decisions.md, bench:models).
 * The property is enumerable, so JSON, spreads and equality see it as any
 * other; it is defined where the eager one was, so key order is unchanged.
 */
export function defineLazy<T extends object, K extends string, V>(
  target: T,
  key: K,
  build: () => V,
): T & Record<K, V> {
  const keep = (value: V): V => {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    return value;
  };
  Object.defineProperty(target, key, {
    get: () => keep(build()),
    set: keep,
    enumerable: true,
    configurable: true,
  });
  return target as T & Record<K, V>;
}
