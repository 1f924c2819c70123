import { describe, expect, it } from 'vitest';
import { createStreamMeter, meteredBody, type StreamMeter } from '../../src/models/index.js';
import { bytes, chatStream, messagesStream, text } from './streams.js';

/** A body that yields the chunks one read at a time, recording how far it was read and whether it was cancelled. */
function source(chunks: Uint8Array[], failAt?: number) {
  const state = { reads: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (failAt !== undefined && state.reads === failAt) {
          controller.error(new Error('connection reset'));
          return;
        }
        const next = chunks[state.reads++];
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { body, state };
}

const lines = (s: string) => s.split(/(?<=\n\n)/).map(bytes);

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of body) out.push(chunk);
  return out;
}

describe('meteredBody', () => {
  it('passes every chunk on and reads the usage as the caller reads', async () => {
    const { body } = source(lines(messagesStream()));
    const meter = createStreamMeter('messages');
    const out = await readAll(meteredBody(body, meter));
    expect(text(out)).toBe(messagesStream());
    expect(await meter.usage).toMatchObject({ inputTokens: 60, outputTokens: 15 });
  });

  it('does not read ahead of the caller', async () => {
    const { body, state } = source(lines(messagesStream()));
    const reader = meteredBody(body, createStreamMeter('messages')).getReader();
    await new Promise((r) => setTimeout(r, 5));
    expect(state.reads).toBe(0);
    await reader.read();
    await new Promise((r) => setTimeout(r, 5));
    expect(state.reads).toBe(1);
    await reader.cancel();
  });

  it('hides the usage chunk the caller did not ask for', async () => {
    const { body } = source(lines(chatStream(true)));
    const meter = createStreamMeter('chat', { hideUsage: true });
    const out = await readAll(meteredBody(body, meter));
    expect(text(out)).toBe(chatStream(false));
    expect(await meter.usage).toMatchObject({ inputTokens: 1000, outputTokens: 20 });
  });

  it('a caller that stops early (cancel): upstream cancelled, no usage', async () => {
    const { body, state } = source(lines(chatStream(true)));
    const meter: StreamMeter = createStreamMeter('chat');
    for await (const _ of meteredBody(body, meter)) break; // an SDK consumer's `break`
    expect(state.cancelled).toBe(true);
    expect(await meter.usage).toBeUndefined();
  });

  it('an upstream cut mid-stream: the error reaches the caller, no usage', async () => {
    const { body } = source(lines(chatStream(true)), 3);
    const meter = createStreamMeter('chat');
    await expect(readAll(meteredBody(body, meter))).rejects.toThrow('connection reset');
    expect(await meter.usage).toBeUndefined();
  });

  it('usage seen before a cut stands', async () => {
    const all = lines(chatStream(true));
    const { body } = source(all, all.length - 1); // cut just before [DONE]
    const meter = createStreamMeter('chat');
    await expect(readAll(meteredBody(body, meter))).rejects.toThrow();
    expect(await meter.usage).toMatchObject({ inputTokens: 1000 });
  });
});
