/**
 * Settles a process has sent and whose metrics are not counted yet: the
 * gateway answers a JSON model call once its settle is on its way to the
 * store (src/meter/call.ts) and counts it when the store answers, so a scrape
 * waits for those first and counts every call answered before it.
 */
import { within } from './within.js';

export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  /** Tracks `p` until it settles (a rejection is its owner's to handle). */
  track(p: Promise<unknown>): void {
    this.pending.add(p);
    const drop = () => this.pending.delete(p);
    p.then(drop, drop);
  }

  /** Resolves once what was in flight when called has settled, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    await within(Promise.allSettled([...this.pending]), timeoutMs).catch(() => undefined);
  }
}
