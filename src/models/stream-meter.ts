/**
 * Meters one streamed response (docs/models.md, "Streams"): fed the upstream's
 * byte chunks as they arrive, it passes them on and reports the usage at the
 * first terminal usage event. For a chat stream whose caller did not ask for
 * usage, it also hides what asking added: the usage-only chunk, and the
 * `"usage":null` member of the other chunks; every other byte passes unchanged.
 */
import { concatBytes, type SseBlock, SseReader } from './sse.js';
import { createUsageExtractor } from './stream-usage.js';
import type { ModelApi, Usage } from './types.js';

export interface StreamMeterOptions {
  /** Chat only: hide the usage the caller did not ask for (ModelRequest.usageRequested false). */
  hideUsage?: boolean;
  /** Called once, at the first terminal usage event. */
  onUsage?: (usage: Usage) => void;
}

export interface StreamMeter {
  /** Reads a chunk; returns the bytes to pass on (the chunk itself unless usage is hidden). */
  push(chunk: Uint8Array): Uint8Array;
  /** The body ended, was cut or aborted: returns the bytes still to pass on; usage not seen by now is undefined. */
  end(): Uint8Array;
  /** Resolves at the first terminal usage event, or with undefined at end() without one. */
  readonly usage: Promise<Usage | undefined>;
  /** The usage, once seen. */
  readonly found: Usage | undefined;
}

// A top-level `"usage": null` member (a quote preceded by `{`, `,` or whitespace is never inside a JSON string).
const NULL_USAGE_AFTER = /,\s*"usage"\s*:\s*null(?=\s*[,}])/g;
const NULL_USAGE_FIRST = /\{\s*"usage"\s*:\s*null\s*(?:,\s*)?(?=["}])/g;
const EMPTY = new Uint8Array(0);

/** The block's bytes without its `"usage": null` members. */
function withoutNullUsage(block: SseBlock, raw: Uint8Array): Uint8Array {
  if (block.data === undefined || !block.data.includes('"usage"')) return raw;
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(raw);
  const stripped = text.replace(NULL_USAGE_AFTER, '').replace(NULL_USAGE_FIRST, '{');
  return stripped === text ? raw : new TextEncoder().encode(stripped);
}

export function createStreamMeter(api: ModelApi, options: StreamMeterOptions = {}): StreamMeter {
  const hide = options.hideUsage === true;
  if (hide && api !== 'chat') throw new RangeError('only a chat stream has usage to hide');
  const reader = new SseReader({ keepRaw: hide });
  const extract = createUsageExtractor(api);
  let found: Usage | undefined;
  let ended = false;
  let resolve: (u: Usage | undefined) => void = () => {};
  const usage = new Promise<Usage | undefined>((r) => {
    resolve = r;
  });

  /** Reads a block; true when it is the usage-only chunk to hide. */
  const read = (block: SseBlock): boolean => {
    if (found !== undefined || ended) return false;
    const hit = extract(block);
    if (hit === undefined) return false;
    found = hit.usage;
    resolve(found);
    options.onUsage?.(found);
    return hit.usageOnly;
  };

  return {
    push(chunk) {
      if (!hide) {
        if (found === undefined && !ended) for (const block of reader.push(chunk)) read(block);
        return chunk;
      }
      const out: Uint8Array[] = [];
      for (const block of reader.push(chunk)) {
        const raw = block.raw ?? EMPTY;
        if (!read(block)) out.push(withoutNullUsage(block, raw));
      }
      return out.length === 0 ? EMPTY : concatBytes(out);
    },
    end() {
      const rest = reader.end();
      if (!ended) {
        ended = true;
        if (found === undefined) resolve(undefined);
      }
      return hide && rest !== undefined ? rest : EMPTY;
    },
    usage,
    get found() {
      return found;
    },
  };
}
