/**
 * InFlight (src/metrics/in-flight.ts): what a scrape waits for before it
 * renders, the gateway's settles sent and not yet counted.
 */
import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/metrics/index.js';

const later = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('InFlight', () => {
  it('waits for what was in flight, a rejection included, and nothing after', async () => {
    const f = new InFlight();
    const done: string[] = [];
    f.track(later(30, 'a').then((v) => done.push(v)));
    f.track(
      later(10, 'b')
        .then(() => Promise.reject(new Error('settle failed')))
        .catch(() => done.push('b')),
    );
    const rejected = later(20, undefined).then(() => Promise.reject(new Error('x')));
    rejected.catch(() => undefined);
    f.track(rejected);
    await f.settled(5_000);
    expect(done.sort()).toEqual(['a', 'b']);
    // Nothing in flight: answered before a timer could fire.
    let first = '';
    await Promise.race([
      f.settled(60_000).then(() => (first ||= 'settled')),
      later(0, 'timer').then((v) => (first ||= v)),
    ]);
    expect(first).toBe('settled');
  });

  it('stops waiting after its time', async () => {
    const f = new InFlight();
    f.track(new Promise(() => {}));
    await f.settled(20);
  });
});
