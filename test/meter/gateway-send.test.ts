/**
 * How the gateway writes an answer to its caller (src/api/gateway/gateway.ts,
 * `send` and `pump`): a metered JSON answer in one piece with its length; a
 * stream larger than the socket's buffers, read slowly, arrives whole and in
 * order (the writer waits for 'drain'), and is settled once.
 */
import { expect, it } from 'vitest';
import { describeWithRig, FIGURES, GPT_4O_COST, MESSAGES } from '../support/meter-harness.js';

describeWithRig((rig) => {
  const call = (key: string, stream: boolean) =>
    fetch(`${rig().base}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 64, stream }),
    });

  it('a JSON answer: its whole text with its content-length, settled before it is sent', async () => {
    const agent = await rig().register();
    const r = await call(agent.key, false);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(r.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(r.headers.get('transfer-encoding')).toBeNull();
    expect(JSON.parse(text)).toMatchObject({ object: 'chat.completion' });
    const s = await rig().status(agent.id);
    expect([s.dailyCostMicros, s.dailyReservedMicros]).toEqual([GPT_4O_COST, 0]);
  });

  it('a stream larger than the socket buffers, read slowly: every byte, in order, settled once', async () => {
    const agent = await rig().register();
    const piece = '0123456789abcdef'.repeat(1024); // 16 KiB
    const text = Array.from({ length: 256 }, (_, i) => `${i}:${piece}`).join('|'); // ~4 MiB
    rig().upstream.set({ text, chunks: 256 });
    const r = await call(agent.key, true);
    expect(r.status).toBe(200);
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let body = '';
    for (let n = 0; ; n++) {
      const { done, value } = await reader.read();
      if (done) break;
      body += decoder.decode(value, { stream: true });
      // A slow reader: the gateway's socket fills and its writes must wait.
      if (n % 32 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const content = body
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    expect(content).toBe(text);
    const s = await rig().whenNothingHeld(agent.id);
    expect(s.sessionTokensUsed).toBe(FIGURES.inputTokens + FIGURES.outputTokens);
    expect(await rig().settles(agent.id)).toHaveLength(1);
  });
});
