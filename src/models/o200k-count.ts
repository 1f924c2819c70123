/**
 * The o200k count of a text, always equal to gpt-tokenizer's
 * `countTokens(text, { disallowedSpecial: new Set() })` (docs/models.md,
 * "Counting"), at a fraction of its cost on new text. gpt-tokenizer splits a
 * text with its o200k pre-tokenizer regex, then counts each piece: 1 if the
 * piece is a token, else the length of the piece's byte-pair encoding. This
 * counter gives the same pieces and counts each one the same way, with two
 * shortcuts:
 *
 * - **A scanner for ASCII.** From each piece's start, a hand-written scanner
 *   follows the regex's alternatives in order, on character codes. The moment
 *   it would have to classify a non-ASCII character (a letter? a number? a
 *   space?), it gives the piece to gpt-tokenizer's own regex (sticky, at that
 *   position). A regex match depends only on the text from its start onwards,
 *   so mixing the two yields the regex's pieces exactly.
 * - **A piece memo.** Each distinct piece is counted once, by gpt-tokenizer's
 *   own encoder (its rank table, then its byte-pair merge), and remembered in a
 *   bounded map: prose and code repeat their words.
 *
 * The encoder's per-piece methods are internal to gpt-tokenizer; if a version
 * lacks them, `o200kCounterOf` answers undefined and the caller counts with
 * `countTokens` instead.
 */

/** The members of gpt-tokenizer's BytePairEncodingCore this counter uses (internal to gpt-tokenizer). */
interface BpeCore {
  tokenSplitRegex: RegExp;
  getBpeRankFromString(piece: string): number | undefined;
  bytePairEncode(piece: string): number[];
}

/** How many distinct pieces the memo keeps before it starts over (with its table, under 5 MB). */
export const PIECE_MEMO_ENTRIES = 32_768;
const PIECE_MEMO_SLOTS = 65_536;
/** Longer pieces (runs of spaces or punctuation) are counted each time, not memoized. */
export const PIECE_MEMO_MAX_CHARS = 48;

// ASCII classes, as the o200k regex sees them (JS `\s`, `\p{L}`, `\p{N}`, with the `u` flag).
const UPPER = 1; // \p{Lu}
const LOWER = 2; // \p{Ll}
const DIGIT = 4; // \p{N}
const SPACE = 8; // \s: \t \n \v \f \r and space
const NEWLINE = 16; // \r \n
const PUNCT = 32; // [^\s\p{L}\p{N}]
const TAIL = 64; // [\r\n/]

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  let k = 0;
  if (c >= 0x41 && c <= 0x5a) k = UPPER;
  else if (c >= 0x61 && c <= 0x7a) k = LOWER;
  else if (c >= 0x30 && c <= 0x39) k = DIGIT;
  else if ((c >= 0x09 && c <= 0x0d) || c === 0x20) k = SPACE;
  else k = PUNCT;
  if (c === 0x0a || c === 0x0d) k |= NEWLINE | TAIL;
  if (c === 0x2f) k |= TAIL;
  CLASS[c] = k;
}
const LETTER = UPPER | LOWER;
/** Not in the regex's optional prefix `[^\r\n\p{L}\p{N}]`. */
const NOT_PREFIX = LETTER | DIGIT | NEWLINE;
const APOSTROPHE = 0x27;
const NON_ASCII = 0x80;

/** An ASCII letter's code in lower case (any other code stays unlike every letter). */
const lower = (c: number): number => c | 0x20;

/** The end of the contraction `'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE])` at `i`, or `i`. */
function contractionEnd(text: string, i: number, n: number): number {
  if (i + 1 >= n || text.charCodeAt(i) !== APOSTROPHE) return i;
  const a = text.charCodeAt(i + 1);
  const la = lower(a);
  if (la === 0x73 || la === 0x64 || la === 0x6d || la === 0x74) return i + 2; // s d m t
  if (i + 2 >= n) return i;
  const b = text.charCodeAt(i + 2);
  const lb = lower(b);
  if ((la === 0x6c && lb === 0x6c) || ((la === 0x76 || la === 0x72) && lb === 0x65)) return i + 3; // ll ve re
  return i;
}

/**
 * The end of the o200k piece that starts at `p`, by the regex's alternatives
 * in order, or -1 when deciding it needs a non-ASCII character's class.
 */
export function asciiPieceEnd(text: string, p: number, n: number): number {
  const c = text.charCodeAt(p);
  if (c >= NON_ASCII) return -1;
  const k = CLASS[c] as number;
  // [^\r\n\p{L}\p{N}]?[\p{Lu}…]*[\p{Ll}…]+(contraction)? | [^\r\n\p{L}\p{N}]?[\p{Lu}…]+[\p{Ll}…]*(contraction)?
  // In ASCII the upper and lower sets are disjoint, so backtracking cannot help: the two
  // alternatives together match the prefix, the upper run, then the lower run, if either run is not empty.
  const s = (k & NOT_PREFIX) === 0 ? p + 1 : p;
  let i = s;
  let d = 0;
  while (i < n) {
    d = text.charCodeAt(i);
    if (d >= NON_ASCII) return -1;
    if (((CLASS[d] as number) & UPPER) === 0) break;
    i++;
  }
  while (i < n) {
    d = text.charCodeAt(i);
    if (d >= NON_ASCII) return -1;
    if (((CLASS[d] as number) & LOWER) === 0) break;
    i++;
  }
  if (i > s) return contractionEnd(text, i, n);
  // \p{N}{1,3}
  if (k & DIGIT) {
    const end = Math.min(p + 3, n);
    i = p + 1;
    while (i < end) {
      d = text.charCodeAt(i);
      if (d >= NON_ASCII) return -1;
      if (((CLASS[d] as number) & DIGIT) === 0) break;
      i++;
    }
    return i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n/]*   (a space then a non-ASCII character returned -1 above)
  const q = c === 0x20 ? p + 1 : p;
  if (q < n && (CLASS[text.charCodeAt(q)] as number) & PUNCT) {
    i = q + 1;
    while (i < n) {
      d = text.charCodeAt(i);
      if (d >= NON_ASCII) return -1;
      if (((CLASS[d] as number) & PUNCT) === 0) break;
      i++;
    }
    while (i < n && (CLASS[text.charCodeAt(i)] as number) & TAIL) i++;
    return i;
  }
  // Only whitespace is left here. \s*[\r\n]+ | \s+(?!\S) | \s+
  let last = -1;
  i = p;
  while (i < n) {
    d = text.charCodeAt(i);
    if (d >= NON_ASCII) return -1;
    const kd = CLASS[d] as number;
    if ((kd & SPACE) === 0) break;
    if (kd & NEWLINE) last = i;
    i++;
  }
  // \s* backtracks to the run's last \r or \n; [\r\n]+ then takes that one character.
  if (last >= 0) return last + 1;
  // \s+(?!\S): the whole run at the end of the text, else all but its last space; \s+: one space.
  if (i === n || i - p === 1) return i;
  return i - 1;
}

/**
 * Counts of pieces, looked up by the piece's place in a text without cutting it
 * out: open addressing on a hash of the piece's UTF-16 units. When it holds
 * `PIECE_MEMO_ENTRIES` pieces, it starts over.
 */
class PieceMemo {
  readonly #mask = PIECE_MEMO_SLOTS - 1;
  readonly #keys: (string | undefined)[] = new Array<string | undefined>(PIECE_MEMO_SLOTS).fill(
    undefined,
  );
  /** Per slot, the key's hash then its count. */
  readonly #meta = new Int32Array(2 * PIECE_MEMO_SLOTS);
  #size = 0;

  /** The count of text[p, e), from the memo or else from `countPiece` (then remembered). */
  count(text: string, p: number, e: number, countPiece: (piece: string) => number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = p; i < e; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    h ^= h >>> 15;
    const len = e - p;
    let slot = h & this.#mask;
    for (;;) {
      const key = this.#keys[slot];
      if (key === undefined) break;
      if (this.#meta[2 * slot] === h && key.length === len && sameAt(text, p, key)) {
        return this.#meta[2 * slot + 1] as number;
      }
      slot = (slot + 1) & this.#mask;
    }
    const piece = text.slice(p, e);
    const n = countPiece(piece);
    if (this.#size >= PIECE_MEMO_ENTRIES) {
      this.#keys.fill(undefined);
      this.#size = 0;
      slot = h & this.#mask;
    }
    this.#keys[slot] = piece;
    this.#meta[2 * slot] = h;
    this.#meta[2 * slot + 1] = n;
    this.#size++;
    return n;
  }
}

/** Whether text holds key at p (the caller checked that it has room). */
function sameAt(text: string, p: number, key: string): boolean {
  for (let j = 0; j < key.length; j++)
    if (text.charCodeAt(p + j) !== key.charCodeAt(j)) return false;
  return true;
}

/** gpt-tokenizer's o200k encoding; its `bytePairEncodingCoreProcessor` (a BpeCore) is internal to it. */
interface O200kEncoding {
  countTokens(text: string, options: { disallowedSpecial: Set<string> }): number;
}

/**
 * The o200k counter on gpt-tokenizer's o200k encoding
 * (`import('gpt-tokenizer/encoding/o200k_base')`'s default), or undefined if
 * its encoder lacks the members used.
 */
export function o200kCounterOf(encoding: O200kEncoding): ((text: string) => number) | undefined {
  const core = (encoding as unknown as { bytePairEncodingCoreProcessor?: Partial<BpeCore> })
    .bytePairEncodingCoreProcessor;
  if (
    core === undefined ||
    !(core.tokenSplitRegex instanceof RegExp) ||
    typeof core.getBpeRankFromString !== 'function' ||
    typeof core.bytePairEncode !== 'function'
  ) {
    return undefined;
  }
  const bpe = core as BpeCore;
  // gpt-tokenizer's own pattern and flags, sticky: a match at the given position or none.
  const regex = new RegExp(
    bpe.tokenSplitRegex.source,
    `${bpe.tokenSplitRegex.flags.replace('g', '')}y`,
  );
  // The count of one piece, as gpt-tokenizer's countNative counts it.
  const countPiece = (piece: string): number =>
    bpe.getBpeRankFromString(piece) !== undefined ? 1 : bpe.bytePairEncode(piece).length;
  const oneChar = new Uint8Array(128);
  for (let c = 0; c < 128; c++) oneChar[c] = countPiece(String.fromCharCode(c));
  const memo = new PieceMemo();
  const options = { disallowedSpecial: new Set<string>() };

  return (text) => {
    const n = text.length;
    let total = 0;
    let p = 0;
    while (p < n) {
      let e = asciiPieceEnd(text, p, n);
      if (e < 0) {
        regex.lastIndex = p;
        // Never null: every character is a letter, a number, a space or none of these, which
        // the pattern's alternatives cover. Were it null, gpt-tokenizer would skip text: count as it does.
        if (regex.exec(text) === null) return encoding.countTokens(text, options);
        e = regex.lastIndex;
      }
      const c = text.charCodeAt(p);
      if (e - p === 1 && c < NON_ASCII) total += oneChar[c] as number;
      else if (e - p <= PIECE_MEMO_MAX_CHARS) total += memo.count(text, p, e, countPiece);
      else total += countPiece(text.slice(p, e));
      p = e;
    }
    return total;
  };
}
