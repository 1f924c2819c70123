/**
 * Prompts of about `tokens` o200k tokens for the counting benchmark, cut from
 * the project's own documentation (English prose, tables and code: varied
 * text, unlike a repeated sentence, which a tokenizer's word cache makes
 * cheap), in messages of ~1,400 characters. The texts are read back from a
 * request body's JSON, as the meter gets them: new strings of their own, each
 * in one byte per character when it is ASCII, not slices of the corpus (which
 * V8 reads through the two-byte text they were cut from: counting them
 * measured ~25 % slower).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MESSAGE_CHARS = 1400;

function corpus(): string {
  const docs = readdirSync(`${ROOT}docs`)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `${ROOT}docs/${f}`);
  return [`${ROOT}README.md`, `${ROOT}ARCHITECTURE.md`, ...docs]
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
}

export interface Prompt {
  texts: string[];
  tokens: number;
}

/** As many distinct prompts of about `tokens` tokens as the corpus holds (at least one). */
export function promptsOf(o200k: (text: string) => number, tokens: number): Prompt[] {
  const text = corpus();
  const prompts: Prompt[] = [];
  let at = 0;
  while (at < text.length) {
    const texts: string[] = [];
    let total = 0;
    while (total < tokens && at < text.length) {
      const message = text.slice(at, at + MESSAGE_CHARS);
      at += MESSAGE_CHARS;
      texts.push(message);
      total += o200k(message);
    }
    if (total >= tokens) {
      const body = JSON.parse(JSON.stringify({ messages: texts })) as { messages: string[] };
      prompts.push({ texts: body.messages, tokens: total });
    }
  }
  if (prompts.length === 0) throw new Error('the documentation is shorter than one prompt');
  return prompts;
}
