/**
 * A full garbage collection on demand, without starting Node with
 * --expose-gc: run before each measurement so that no measurement pays for
 * the garbage (or the retained state) of the one before.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

export function fullGc(): void {
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
