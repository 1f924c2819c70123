/** Event streams of the three APIs, as an upstream sends them, and ways to cut them into chunks. */

const enc = new TextEncoder();

export const CHAT_USAGE = {
  prompt_tokens: 1000,
  completion_tokens: 20,
  total_tokens: 1020,
  prompt_tokens_details: { cached_tokens: 600 },
  completion_tokens_details: { reasoning_tokens: 0 },
};

/**
 * A chat completions stream. `withUsage`: as sent when `include_usage` was
 * asked (every chunk has `"usage":null`, then the usage-only chunk).
 */
export function chatStream(withUsage: boolean, eol = '\n'): string {
  const base = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
  const deltas = [
    { role: 'assistant', content: '' },
    { content: 'Hé, ' },
    { content: 'he said ,"usage":null and {"usage": null}' }, // text that looks like the member
    { content: ' 東京 🚀' },
  ];
  const chunks: object[] = deltas.map((delta) => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: null }],
    ...(withUsage ? { usage: null } : {}),
  }));
  chunks.push({
    ...base,
    choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
    ...(withUsage ? { usage: null } : {}),
  });
  if (withUsage) chunks.push({ ...base, choices: [], usage: CHAT_USAGE });
  const events = chunks.map((c) => `data: ${JSON.stringify(c)}${eol}${eol}`);
  return `: keep-alive${eol}${eol}${events.join('')}data: [DONE]${eol}${eol}`;
}

export const RESPONSES_USAGE = {
  input_tokens: 10,
  input_tokens_details: { cached_tokens: 4 },
  output_tokens: 5,
  output_tokens_details: { reasoning_tokens: 2 },
  total_tokens: 15,
};

export function responsesStream(): string {
  const e = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    e('response.created', { response: { id: 'r', status: 'in_progress', usage: null } }),
    e('response.output_text.delta', { delta: 'Hi' }),
    e('response.output_text.done', { text: 'Hi' }),
    e('response.completed', { response: { id: 'r', status: 'completed', usage: RESPONSES_USAGE } }),
  ].join('');
}

export function messagesStream(): string {
  const e = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    e('message_start', {
      message: {
        id: 'm',
        usage: {
          input_tokens: 10,
          cache_creation_input_tokens: 20,
          cache_read_input_tokens: 30,
          output_tokens: 1,
        },
      },
    }),
    e('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    e('ping', {}),
    e('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    e('content_block_stop', { index: 0 }),
    e('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 15 } }),
    e('message_stop', {}),
  ].join('');
}

export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (parts: readonly Uint8Array[]): string =>
  new TextDecoder().decode(Buffer.concat(parts.map((p) => Buffer.from(p))));

/** A small seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ways to cut a body: whole, byte by byte, and random cuts (inside UTF-8 sequences and CRLFs too). */
export function splits(body: Uint8Array): [string, Uint8Array[]][] {
  const out: [string, Uint8Array[]][] = [['whole', [body.slice()]]];
  out.push(['byte by byte', Array.from(body, (b) => Uint8Array.of(b))]);
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = rng(seed);
    const parts: Uint8Array[] = [];
    let at = 0;
    while (at < body.length) {
      const n = 1 + Math.floor(next() * 40);
      parts.push(body.slice(at, at + n));
      at += n;
    }
    out.push([`random cuts ${seed}`, parts]);
  }
  return out;
}
