import { type EventTailBits, eventIdOf } from '../random.js';
import type { OutboxEntry } from '../types.js';

/** What stamps an event with its shard's next stream id (MemoryState). */
export interface StreamStamp {
  /** Advances the shard's stream id; returns its sequence number. */
  nextSeq(shard: number): number;
  /** The ms part of the shard's last stream id. */
  streamMs(shard: number): number;
  /** The operation's clock (ms), the events' `at` and the time of their ids. */
  readonly now: number;
}

/**
 * One event in a shard's outbox, as MemoryEngine keeps it: its place (shard,
 * stream id) and what its fields are made of, in numbers and the strings the
 * operation already had. The text fields are built only when the outbox is
 * read (readOutbox, takeOutbox), so a decision formats nothing and leaves
 * little to collect; what is read is the same text either way.
 */
export abstract class StoredEvent {
  /** The stream id `<ms>-<seq>`, as its two numbers. */
  readonly ms: number;
  readonly seq: number;

  /** Takes the shard's next stream id (append the event to that shard's outbox). */
  constructor(
    stamp: StreamStamp,
    readonly shard: number,
  ) {
    this.seq = stamp.nextSeq(shard);
    this.ms = stamp.streamMs(shard);
  }

  get streamId(): string {
    return `${this.ms}-${this.seq}`;
  }

  /** The event's fields, in the scripts' order and text: a new record on every call. */
  abstract fields(): Record<string, string>;

  /** A copy as an OutboxEntry (what readers get; changing it changes nothing here). */
  toEntry(): OutboxEntry {
    return { shard: this.shard, streamId: this.streamId, fields: this.fields() };
  }
}

/** Appends an event to its shard's outbox (it took its stream id when made). */
export function appendEvent(outbox: StoredEvent[][], e: StoredEvent): void {
  (outbox[e.shard] as StoredEvent[]).push(e);
}

/** An event whose fields were built when it happened (the kinds that are rare). */
export class FieldsEvent extends StoredEvent {
  constructor(
    stamp: StreamStamp,
    shard: number,
    private readonly f: Readonly<Record<string, string>>,
  ) {
    super(stamp, shard);
  }

  fields(): Record<string, string> {
    return { ...this.f };
  }
}

/**
 * An event kept as values: besides its place, the header every event starts
 * with (`event_id`, `at`) as numbers: the operation's clock (kept as its
 * distance from the stream id's ms, a small integer), the random tail of the
 * call's event ids and the event's number in the call.
 */
export abstract class ValueEvent extends StoredEvent {
  private readonly dNow: number;
  private readonly hi: number;
  private readonly lo: number;

  constructor(
    stamp: StreamStamp,
    shard: number,
    tail: EventTailBits,
    private readonly n: number,
  ) {
    super(stamp, shard);
    this.dNow = stamp.now - this.ms;
    this.hi = tail.hi;
    this.lo = tail.lo;
  }

  protected get eventId(): string {
    return eventIdOf(this.at, { hi: this.hi, lo: this.lo }, this.n);
  }

  protected get at(): number {
    return this.ms + this.dNow;
  }
}
