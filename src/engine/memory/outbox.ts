import type { OutboxEntry } from '../types.js';
import type { MemoryState } from './state.js';
import type { StoredEvent } from './stored-event.js';

/**
 * The drain's side of MemoryEngine's outbox (one array per shard, appended by
 * the operations, oldest first; entries are made from the stored events as
 * they are taken). Taking is a peek: entries leave only when
 * acknowledged, after the store has them, so a failed insert loses nothing
 * and a retry takes the same entries again. Per shard, what is taken is
 * always a prefix of the shard's outbox, so its order is kept.
 */

/** How many entries a take would hand out of each shard: a fair share first, then what is left. */
function shares(boxes: readonly StoredEvent[][], max: number): number[] {
  const counts = boxes.map(() => 0);
  let left = max;
  let nonEmpty = 0;
  for (const box of boxes) if (box.length > 0) nonEmpty++;
  if (nonEmpty === 0 || left <= 0) return counts;
  const share = Math.max(1, Math.floor(max / nonEmpty));
  for (let s = 0; s < boxes.length && left > 0; s++) {
    const n = Math.min((boxes[s] as StoredEvent[]).length, share, left);
    counts[s] = n;
    left -= n;
  }
  for (let s = 0; s < boxes.length && left > 0; s++) {
    const more = Math.min((boxes[s] as StoredEvent[]).length - (counts[s] as number), left);
    counts[s] = (counts[s] as number) + more;
    left -= more;
  }
  return counts;
}

/**
 * Up to `max` of the oldest entries, every shard's taken from its head (each
 * non-empty shard gets a fair share of the batch, so one busy shard does not
 * hold the others back), copied. Nothing is removed.
 */
export function takeOutbox(st: MemoryState, max: number): OutboxEntry[] {
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`takeOutbox: max must be a positive integer, got ${max}`);
  }
  const counts = shares(st.outbox, max);
  const out: OutboxEntry[] = [];
  for (let s = 0; s < st.outbox.length; s++) {
    const box = st.outbox[s] as StoredEvent[];
    const n = counts[s] as number;
    for (let k = 0; k < n; k++) out.push((box[k] as StoredEvent).toEntry());
  }
  return out;
}

/**
 * Removes the given entries (matched by shard and stream id) from the outbox;
 * entries no longer there (acknowledged before) are ignored. Returns how many
 * were removed.
 */
export function ackOutbox(st: MemoryState, entries: readonly OutboxEntry[]): number {
  const byShard = new Map<number, Set<string>>();
  for (const e of entries) {
    let ids = byShard.get(e.shard);
    if (!ids) {
      ids = new Set();
      byShard.set(e.shard, ids);
    }
    ids.add(e.streamId);
  }
  let removed = 0;
  for (const [shard, ids] of byShard) {
    const box = st.outbox[shard];
    if (!box) continue;
    // The usual case: what was taken is the head of the shard's outbox.
    let k = 0;
    while (k < box.length && ids.has((box[k] as StoredEvent).streamId)) k++;
    if (k > 0) box.splice(0, k);
    removed += k;
    if (k < ids.size) {
      let w = 0;
      for (const e of box) if (!ids.has(e.streamId)) box[w++] = e;
      removed += box.length - w;
      box.length = w;
    }
  }
  return removed;
}

export interface ShardBacklog {
  shard: number;
  /** Entries not yet acknowledged. */
  length: number;
  /** Process time (ms) the oldest of them was appended (its stream id), null when empty. */
  oldestMs: number | null;
}

/** The outbox's backlog: per shard, its length and the age of its oldest entry. */
export function outboxBacklog(st: MemoryState): ShardBacklog[] {
  return st.outbox.map((box, shard) => {
    const head = box[0];
    return {
      shard,
      length: box.length,
      oldestMs: head === undefined ? null : head.ms,
    };
  });
}
