/**
 * The o200k counter (src/models/o200k-count.ts) gives gpt-tokenizer's count,
 * `countTokens(text, { disallowedSpecial: new Set() })`, for every text: its
 * ASCII scanner must cut the very pieces of gpt-tokenizer's regex, and each
 * piece must count as gpt-tokenizer counts it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import encoding from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { createTokenCounter, loadO200k } from '../../src/models/index.js';
import {
  asciiPieceEnd,
  o200kCounterOf,
  PIECE_MEMO_ENTRIES,
  PIECE_MEMO_MAX_CHARS,
} from '../../src/models/o200k-count.js';

const options = { disallowedSpecial: new Set<string>() };
const reference = (text: string): number => encoding.countTokens(text, options);
const fast = o200kCounterOf(encoding);
if (fast === undefined) throw new Error('gpt-tokenizer lacks the members the fast counter uses');
const count: (text: string) => number = fast;

/** The texts whose counts differ from gpt-tokenizer's, with both counts (empty when all agree). */
function mismatches(texts: Iterable<string>): { text: string; ours: number; theirs: number }[] {
  const out: { text: string; ours: number; theirs: number }[] = [];
  for (const text of texts) {
    const ours = count(text);
    const theirs = reference(text);
    if (ours !== theirs) out.push({ text, ours, theirs });
  }
  return out;
}

/** gpt-tokenizer's pieces of a text: the matches of its own regex. */
function regexPieces(text: string): string[] {
  const core = (
    encoding as unknown as { bytePairEncodingCoreProcessor: { tokenSplitRegex: RegExp } }
  ).bytePairEncodingCoreProcessor;
  return [...text.matchAll(core.tokenSplitRegex)].map((m) => m[0]);
}

/** The scanner's pieces, while it needs no non-ASCII class; undefined once it gives up. */
function scannerPieces(text: string): string[] | undefined {
  const pieces: string[] = [];
  let p = 0;
  while (p < text.length) {
    const e = asciiPieceEnd(text, p, text.length);
    if (e < 0) return undefined;
    expect(e).toBeGreaterThan(p);
    pieces.push(text.slice(p, e));
    p = e;
  }
  return pieces;
}

/** A seeded generator (mulberry32), so that a failing fuzz case can be found again. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The project's own prose and TypeScript: large and varied. */
function projectFiles(): string[] {
  const docs = readdirSync(`${ROOT}docs`)
    .filter((f) => f.endsWith('.md'))
    .map((f) => `${ROOT}docs/${f}`);
  const src = readdirSync(`${ROOT}src/models`)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${ROOT}src/models/${f}`);
  return [`${ROOT}README.md`, `${ROOT}ARCHITECTURE.md`, ...docs, ...src].map((f) =>
    readFileSync(f, 'utf8'),
  );
}

const PROSE = `It's the budget's job, isn't it? We'd've said "no" — but they'll retry; you're sure?
The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! CamelCase, HTTPServer, iPhone, McDonald's, O'Neil.
Mr. Smith paid $1,234.56 on 2026-11-28 at 10:45:00Z (about 3.14159% of 100,000,000).`;

const TYPESCRIPT = `export async function loadO200k(): Promise<CountText> {
  const { default: encoding } = await import('gpt-tokenizer/encoding/o200k_base');
  if (x?.y ?? z) return (a) => a.b!; // comment
\tconst re = /\\s+(?!\\S)/gu; let s = \`\${a}/\${b}\`;
}
`;

const PYTHON = `def count(text: str) -> int:\r\n    """Count o200k tokens."""\r\n    if not text:\r\n        return 0\r\n    return len(enc.encode(text))  # noqa\r\n\r\n\r\nclass Foo(Bar):\n\tpass\n`;

const JSON_TEXT = JSON.stringify(
  {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello.' }],
    n: [1, 22, 333, 4444, 55555, -6.5e-7],
    nested: { a: null, b: true, c: '\u00e9\u4e2d' },
  },
  null,
  2,
);

const NUMBERS = [
  ...Array.from({ length: 25 }, (_, i) => '1234567890'.repeat(3).slice(0, i + 1)),
  '0',
  '007',
  '1,000,000',
  '3.14159',
  '-42',
  '1e10',
  '0x1F',
  'v1.2.3',
  'abc123def4567',
  '\u0660\u0661\u0662\u0663\u0664', // Arabic-Indic digits
  '\uff11\uff12\uff13\uff14', // fullwidth digits
  'x\u00b2 + y\u00b3', // superscripts
  '\u216b \u00bd \u2155', // Roman numeral twelve, one half, one fifth
  '12\u0663', // ASCII digits then an Arabic-Indic one
  ' 1',
  '  12',
];

const CONTRACTIONS = [
  "'s 'S 'd 'D 'm 'M 't 'T 'll 'LL 'Ll 'lL 've 'VE 'Ve 're 'RE 'rE",
  "it's IT'S It'S don't DON'T Don't I'M i'm we'll WE'LL they've THEY'VE you're YOU'RE he'd HE'D",
  "rock'n'roll o'clock 'tis 'x 'l 'v 'r ' '' ''s 's's x'",
  'it\u2019s don\u2019t \u2018quoted\u2019 \u201cdouble\u201d',
  "caf\u00e9's na\u00efve'LL \u00c9COLE'S",
  "end with apostrophe'",
  "A'",
  "a'",
  "a'l",
];

const WHITESPACE = [
  '\r\n',
  'a\r\nb',
  '\n\n\n',
  'line\n\n\nline',
  '\t\tindented',
  'trailing   ',
  'trailing   \n',
  '    ',
  '    \n    \n',
  ' \n \n x',
  '\n x',
  '  x',
  '   x  y   z',
  ' ',
  '\t',
  'a \tb',
  '\v\f\v',
  'a\vb\fc',
  '\r',
  '\r\r\n\n\r',
  ' \r\n\t \r\n  ',
  'a\u00a0b',
  ' \u00a0\n',
  '\u00a0\u00a0x',
  '\u3000\u3000\u65e5\u672c',
  'line\u2028sep\u2029para',
  '\ufeffBOM',
  'x \u2003 y',
  '\u0085next line',
  '\x1c\x1d\x1e\x1f',
  '!\n\n',
  '//\n//\r\n',
  'a//b',
  ' !!//\r\n/x',
  '. \n',
];

const SCRIPTS = [
  '\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002\u6771\u4eac\u90fd\u3002', // Japanese
  '\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff0c\u6c49\u5b57\uff01', // Chinese
  '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.', // Korean
  '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f', // Arabic
  '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e\u0964 \u0939\u093f\u0902\u0926\u0940', // Devanagari (marks)
  '\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd', // Hebrew
  '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a', // Thai
  '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0417\u0414\u0420\u0410\u0412\u0421\u0422\u0412\u0423\u0419\u0422\u0415', // Cyrillic
  '\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03a3\u03a3\u03a3', // Greek
  'e\u0301 a\u0300\u0301 \u0301lone mark ABC\u0301 x\u20dd', // combining marks
  '\u01c5 \u01c8ungla \u02b0\u02b1 A\u02b0b', // titlecase Lt, modifier Lm
  'Stra\u00dfe \u00c0 la carte \u00e9t\u00e9 MA\u00cfS',
  '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 family', // ZWJ
  '\ud83d\udc4d\ud83c\udffd \ud83d\udc4b\ud83c\udfff\ud83d\udc4b', // skin tones
  '\ud83c\uddeb\ud83c\uddf7\ud83c\uddef\ud83c\uddf5 flags',
  '\u2764\ufe0f \u263a\ufe0e emoji presentation',
  'ok \ud83d\ude00!! \ud83d\ude00\ud83d\ude00\ud83d\ude00',
  'lone \ud800 high, lone \udc00 low, \udc00\ud800 reversed',
  '\u2014 em dash \u2013 en dash \u2026 ellipsis \u00ab\u00bb \u2264 \u00d7 \u2192',
  '$\u20ac\u00a3\u00a5 \u00a9\u00ae\u2122 \u00b0C',
  'mixed: abc\u65e5\u672cdef \u0645\u0631\u062dabc 123\u0663',
];

const SPECIAL = [
  '<|endoftext|>',
  'a<|endoftext|>b',
  '<|im_start|>user\nhi<|im_end|>',
  '<|fim_prefix|>x<|fim_middle|>y<|fim_suffix|>',
  '<|endofprompt|> <|im_sep|>',
  '<|endoftext|',
];

describe('the o200k count equals gpt-tokenizer countTokens (special tokens as text)', () => {
  it('on the empty string, every single ASCII character, and some non-ASCII ones', () => {
    expect(count('')).toBe(0);
    const singles = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));
    singles.push('\u00e9', '\u4e2d', '\u00a0', '\u0301', '\ud83d\ude00', '\ud800', '\u2019');
    expect(mismatches(singles)).toEqual([]);
  });

  it('on every pair of ASCII characters, and triples of the characters that shape pieces', () => {
    const pairs: string[] = [];
    for (let a = 0; a < 128; a++)
      for (let b = 0; b < 128; b++) pairs.push(String.fromCharCode(a, b));
    expect(mismatches(pairs)).toEqual([]);
    const shaping = [..." \t\n\r\v'/.!aAsSlLzZ09", '\u00a0', '\u00e9', '\u0301'];
    const triples: string[] = [];
    for (const a of shaping)
      for (const b of shaping) for (const c of shaping) triples.push(a + b + c);
    expect(mismatches(triples)).toEqual([]);
  });

  it('on prose, code (TypeScript, Python, JSON), numbers, contractions, whitespace, scripts, emoji, special-token text', () => {
    const all = [
      PROSE,
      TYPESCRIPT,
      PYTHON,
      JSON_TEXT,
      ...NUMBERS,
      ...CONTRACTIONS,
      ...WHITESPACE,
      ...SCRIPTS,
      ...SPECIAL,
    ];
    expect(mismatches(all)).toEqual([]);
    // Each also inside other text, and all of them at once.
    expect(mismatches(all.map((t) => `x ${t} y`))).toEqual([]);
    expect(mismatches([all.join(''), all.join('\n'), all.join(' ')])).toEqual([]);
  });

  it("on the project's documentation and source, whole and in pieces", () => {
    const files = projectFiles();
    expect(mismatches(files)).toEqual([]);
    const cuts: string[] = [];
    for (const f of files)
      for (let at = 0; at < f.length; at += 977) cuts.push(f.slice(at, at + 1400));
    expect(mismatches(cuts)).toEqual([]);
  });

  it('on pieces longer than the memo keeps', () => {
    const long = [
      '='.repeat(1000),
      ' '.repeat(500),
      `${' '.repeat(500)}x`,
      '\n'.repeat(300),
      'a'.repeat(300),
      'Z'.repeat(PIECE_MEMO_MAX_CHARS + 1),
      `'${'ab'.repeat(PIECE_MEMO_MAX_CHARS)}'ll`,
      '9'.repeat(1000),
      '\u4e2d'.repeat(400),
    ];
    expect(mismatches(long)).toEqual([]);
    // Counted again (no memo for these): the same.
    expect(mismatches(long)).toEqual([]);
  });

  it('after the piece memo starts over', () => {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const word = (i: number): string => {
      let w = '';
      for (let k = i; k > 0; k = Math.floor(k / 26)) w += letters[k % 26];
      return w;
    };
    const words = Array.from({ length: PIECE_MEMO_ENTRIES + 5000 }, (_, i) => ` q${word(i)}`);
    const text = words.join('');
    expect(count(text)).toBe(reference(text));
    expect(count(text)).toBe(reference(text));
  });

  it('on a seeded fuzz of strings from a mixed alphabet', () => {
    const atoms = [
      ...'abcxyzABCXYZsStTlLdDmMvVeErR0123456789',
      ...' \t\n\r\v\f',
      ...'\'"/\\.,;:!?-_()[]{}<>|@#$%^&*+=~`',
      '\x00',
      '\x1f',
      '\x7f',
      "'s",
      "'LL",
      "'Ve",
      '\r\n',
      '  ',
      '\n\n',
      ' /',
      '<|endoftext|>',
      ...'\u00e9\u00df\u00c9\u03a3\u03c3\u01c5\u02b0\u0301\u0300\u20dd',
      ...'\u00a0\u3000\u2028\u2029\u2003\ufeff\u0085',
      ...'\u0663\u00b2\u00bd\u216b\uff11',
      ...'\u4e2d\u65e5\u672c\ud55c\u0645\u0928\u094d\u0947',
      ...'\u2019\u2018\u201c\u2014\u2026\u00d7',
      '\ud83d\ude00',
      '\ud83d\udc4d\ud83c\udffd',
      '\u200d',
      '\ud83c\uddeb\ud83c\uddf7',
      '\ud800',
      '\udc00',
      'hello',
      'World',
      'HTTP',
      'don',
      '123456',
    ];
    const random = seeded(0x0200_c0de);
    const texts: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const n = Math.floor(random() * (i % 10 === 0 ? 200 : 24));
      let t = '';
      for (let k = 0; k < n; k++) t += atoms[Math.floor(random() * atoms.length)];
      texts.push(t);
    }
    // ASCII only as well: the scanner alone, never the regex.
    const ascii = atoms.filter((a) => /^\p{ASCII}+$/u.test(a));
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(random() * 30);
      let t = '';
      for (let k = 0; k < n; k++) t += ascii[Math.floor(random() * ascii.length)];
      texts.push(t);
    }
    expect(mismatches(texts)).toEqual([]);
  });
});

describe('the ASCII scanner', () => {
  it("cuts gpt-tokenizer's regex pieces on ASCII text", () => {
    // Pieces, not only counts: a wrong cut can keep the count (o200k has no token
    // across "\n" and a letter, say) and still be wrong elsewhere.
    const texts = [PROSE, TYPESCRIPT, PYTHON, JSON_TEXT, ...WHITESPACE, ...CONTRACTIONS].filter(
      (t) => /^\p{ASCII}*$/u.test(t),
    );
    expect(texts.length).toBeGreaterThan(20);
    const random = seeded(7);
    for (let i = 0; i < 3000; i++) {
      let t = '';
      for (let k = Math.floor(random() * 12); k > 0; k--)
        t += String.fromCharCode(Math.floor(random() * 128));
      texts.push(t);
    }
    for (const text of texts)
      expect(scannerPieces(text), JSON.stringify(text)).toEqual(regexPieces(text));
  });

  it('gives up where a non-ASCII character decides the piece', () => {
    expect(asciiPieceEnd('caf\u00e9', 0, 4)).toBe(-1); // a letter run that goes on
    expect(asciiPieceEnd('12\u0663', 0, 3)).toBe(-1); // a number run that may go on
    expect(asciiPieceEnd('  \u00a0x', 0, 4)).toBe(-1); // a space run that may go on
    expect(asciiPieceEnd('!!\u2014', 0, 3)).toBe(-1); // punctuation that may go on
    expect(asciiPieceEnd('123\u0663', 0, 4)).toBe(3); // \p{N}{1,3} is full
    expect(asciiPieceEnd("it's\u00e9", 0, 5)).toBe(4); // the contraction ends the piece
  });
});

describe('loadO200k', () => {
  it("counts as gpt-tokenizer does, through createTokenCounter's memo", async () => {
    const o200k = await loadO200k();
    const counter = createTokenCounter({ o200k });
    const texts = [PROSE, TYPESCRIPT, ...SCRIPTS, ...SPECIAL];
    const expected = texts.reduce((n, t) => n + reference(t), 0);
    expect(counter.count(texts, 'o200k')).toBe(expected);
    expect(counter.count(texts, 'o200k')).toBe(expected);
  });
});
