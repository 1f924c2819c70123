/**
 * An incremental reader of server-sent events (the WHATWG event-stream format):
 * fed byte chunks as they arrive, it returns each block (the lines up to a blank
 * line) once complete, and keeps only the incomplete line and block, never the
 * body. Lines end with LF, CRLF or CR; bytes are split at ASCII terminators
 * only, so each line is whole UTF-8.
 */

const LF = 10;
const CR = 13;

export interface SseBlock {
  /** The `event:` field; '' when the block names none (the format's default, "message"). */
  event: string;
  /** The `data:` lines joined with "\n"; undefined for a block without data (a comment, a keep-alive). */
  data: string | undefined;
  /** The block's bytes as received, its blank line included (only when the reader keeps them). */
  raw: Uint8Array | undefined;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class SseReader {
  readonly #keepRaw: boolean;
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  #line: Uint8Array[] = [];
  #raw: Uint8Array[] = [];
  #event = '';
  #data: string[] = [];
  #skipLf = false;
  #first = true;

  /** `keepRaw`: return each block's bytes too (to pass them on). */
  constructor(options: { keepRaw?: boolean } = {}) {
    this.#keepRaw = options.keepRaw ?? false;
  }

  /** The blocks this chunk completes. The reader keeps views of the chunk: do not reuse its memory. */
  push(chunk: Uint8Array): SseBlock[] {
    const blocks: SseBlock[] = [];
    let pos = 0;
    let rawStart = 0;
    if (this.#skipLf && chunk.length > 0) {
      // The LF of a CRLF split across chunks: part of the previous line's end.
      if (chunk[0] === LF) pos = 1;
      this.#skipLf = false;
    }
    let nextLf = -2;
    let nextCr = -2;
    while (pos < chunk.length) {
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      const end = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (end === -1) {
        this.#line.push(chunk.subarray(pos));
        break;
      }
      this.#line.push(chunk.subarray(pos, end));
      pos = end + 1;
      if (chunk[end] === CR) {
        if (pos < chunk.length) {
          if (chunk[pos] === LF) pos++;
        } else this.#skipLf = true;
      }
      const block = this.#endLine();
      if (block !== undefined) {
        if (this.#keepRaw) {
          this.#raw.push(chunk.subarray(rawStart, pos));
          block.raw = concatBytes(this.#raw);
          this.#raw = [];
          rawStart = pos;
        }
        blocks.push(block);
      }
    }
    if (this.#keepRaw && rawStart < chunk.length) this.#raw.push(chunk.subarray(rawStart));
    return blocks;
  }

  /** The end of the body: the bytes of an unfinished block (the format drops it as an event). */
  end(): Uint8Array | undefined {
    const rest = this.#raw.length > 0 ? concatBytes(this.#raw) : undefined;
    this.#raw = [];
    this.#line = [];
    this.#data = [];
    this.#event = '';
    return rest;
  }

  /** Takes the finished line; a blank line ends the block. */
  #endLine(): SseBlock | undefined {
    const bytes = concatBytes(this.#line);
    this.#line = [];
    if (bytes.length === 0) {
      const block: SseBlock = {
        event: this.#event,
        data: this.#data.length > 0 ? this.#data.join('\n') : undefined,
        raw: undefined,
      };
      this.#event = '';
      this.#data = [];
      return block;
    }
    let line = this.#decoder.decode(bytes);
    if (this.#first) {
      this.#first = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.#event = value;
    else if (name === 'data') this.#data.push(value);
    return undefined;
  }
}
