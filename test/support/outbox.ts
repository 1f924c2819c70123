import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_SHARDS, outboxKey } from '../../src/engine/keys.js';
import { EVENT_FIELD, unpackEntry } from '../../src/engine/outbox-format.js';

export interface OutboxEvent {
  /** The stream entry that holds it (a script call's events share one). */
  streamId: string;
  fields: Record<string, string>;
}

/**
 * Every event in a shard's outbox, oldest first (the whole stream, read in
 * pages). An entry holds one script call's events (src/engine/outbox-format.ts);
 * an entry with no `e` field (written by hand in the earlier flat format) is
 * one event, as the drain reads it.
 */
export async function shardEvents(redis: Redis | Cluster, shard: number): Promise<OutboxEvent[]> {
  const key = outboxKey(shard);
  const out: OutboxEvent[] = [];
  let start = '-';
  for (;;) {
    const rows = await redis.xrange(key, start, '+', 'COUNT', 1000);
    for (const [streamId, flat] of rows) {
      if (flat[0] !== EVENT_FIELD) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2)
          fields[flat[i] as string] = flat[i + 1] as string;
        out.push({ streamId, fields });
        continue;
      }
      for (const fields of unpackEntry(flat)) out.push({ streamId, fields });
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < 1000) return out;
    start = `(${last[0]}`;
  }
}

/** Events (not entries: XLEN counts those) in every shard's outbox. */
export async function outboxEventCount(
  redis: Redis | Cluster,
  shards = DEFAULT_SHARDS,
): Promise<number> {
  const per = await Promise.all(
    Array.from({ length: shards }, (_, s) => shardEvents(redis, s).then((e) => e.length)),
  );
  return per.reduce((a, n) => a + n, 0);
}
