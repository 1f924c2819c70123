import { describe, expect, it } from 'vitest';
import { createStreamMeter, type ModelApi, type Usage } from '../../src/models/index.js';
import {
  bytes,
  CHAT_USAGE,
  chatStream,
  messagesStream,
  RESPONSES_USAGE,
  responsesStream,
  splits,
  text,
} from './streams.js';

const CHAT: Usage = {
  inputTokens: 1000,
  outputTokens: 20,
  cacheReadTokens: 600,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
};
const RESPONSES: Usage = {
  inputTokens: 10,
  outputTokens: 5,
  cacheReadTokens: 4,
  cacheWriteTokens: 0,
  reasoningTokens: 2,
};
const MESSAGES: Usage = {
  inputTokens: 60,
  outputTokens: 15,
  cacheReadTokens: 30,
  cacheWriteTokens: 20,
};

const cases: [ModelApi, string, Usage, string][] = [
  ['chat', chatStream(true), CHAT, 'data: [DONE]'],
  ['responses', responsesStream(), RESPONSES, ''], // its terminal event is the last: the whole body, not ended
  ['messages', messagesStream(), MESSAGES, 'event: message_stop'],
];

describe('usage from each API’s stream, however the bytes are cut', () => {
  for (const [api, body, expected] of cases) {
    for (const [how, chunks] of splits(bytes(body))) {
      it(`${api}, ${how}`, async () => {
        const seen: Usage[] = [];
        const meter = createStreamMeter(api, { onUsage: (u) => seen.push(u) });
        const out = chunks.map((c) => meter.push(c));
        out.push(meter.end());
        expect(text(out)).toBe(body); // passed on unchanged
        expect(await meter.usage).toEqual(expected);
        expect(seen).toEqual([expected]);
      });
    }
  }

  it('sanity: the fixtures carry the usage', () => {
    expect(CHAT_USAGE.prompt_tokens).toBe(CHAT.inputTokens);
    expect(RESPONSES_USAGE.output_tokens).toBe(RESPONSES.outputTokens);
  });
});

describe('reported at the first terminal usage event, not at the end of the body', () => {
  for (const [api, body, expected, after] of cases) {
    it(api, async () => {
      const meter = createStreamMeter(api);
      let resolved: Usage | undefined;
      void meter.usage.then((u) => {
        resolved = u;
      });
      const cut = after === '' ? body.length : body.indexOf(after);
      expect(cut).toBeGreaterThan(0);
      meter.push(bytes(body.slice(0, cut)));
      expect(meter.found).toEqual(expected);
      await Promise.resolve();
      expect(resolved).toEqual(expected);
    });
  }
});

describe('a stream cut or aborted before its usage', () => {
  for (const [api, body] of cases) {
    it(`${api}: no usage`, async () => {
      const seen: Usage[] = [];
      const meter = createStreamMeter(api, { onUsage: (u) => seen.push(u) });
      meter.push(bytes(body.slice(0, Math.floor(body.length / 2))));
      meter.end();
      expect(await meter.usage).toBeUndefined();
      expect(meter.found).toBeUndefined();
      expect(seen).toEqual([]);
      meter.push(bytes(body.slice(Math.floor(body.length / 2)))); // bytes after the end are ignored
      expect(meter.found).toBeUndefined();
    });
  }

  it('an Anthropic stream cut after message_start: no usage (its output is unknown)', async () => {
    const body = messagesStream();
    const meter = createStreamMeter('messages');
    meter.push(bytes(body.slice(0, body.indexOf('event: message_delta'))));
    meter.end();
    expect(await meter.usage).toBeUndefined();
  });

  it('a chat stream that ends without the usage chunk: no usage', async () => {
    const meter = createStreamMeter('chat');
    meter.push(bytes(chatStream(false)));
    meter.end();
    expect(await meter.usage).toBeUndefined();
  });
});

describe('chat: the usage the caller did not ask for is hidden', () => {
  for (const eol of ['\n', '\r\n']) {
    const upstream = chatStream(true, eol);
    const asCallerWouldSee = chatStream(false, eol);
    for (const [how, chunks] of splits(bytes(upstream))) {
      it(`${JSON.stringify(eol)}, ${how}: the same bytes as without Tollgate, usage read`, async () => {
        const meter = createStreamMeter('chat', { hideUsage: true });
        const out = chunks.map((c) => meter.push(c));
        out.push(meter.end());
        expect(text(out)).toBe(asCallerWouldSee);
        expect(await meter.usage).toEqual(CHAT);
      });
    }
  }

  it('`"usage":null` as the first member too', () => {
    const meter = createStreamMeter('chat', { hideUsage: true });
    const out = meter.push(
      bytes('data: {"usage":null,"id":"x","choices":[]}\n\ndata: {"usage": null}\n\n'),
    );
    expect(text([out])).toBe('data: {"id":"x","choices":[]}\n\ndata: {}\n\n');
  });

  it('passes a chunk on as soon as its event is complete', () => {
    const meter = createStreamMeter('chat', { hideUsage: true });
    const first = chatStream(true).split('\n\n').slice(0, 2).join('\n\n');
    expect(text([meter.push(bytes(`${first}\n`))])).toBe(': keep-alive\n\n');
    expect(text([meter.push(bytes('\n'))])).toMatch(/^data: \{"id":"c1".*\}\n\n$/);
  });

  it('only for chat', () => {
    expect(() => createStreamMeter('messages', { hideUsage: true })).toThrow(RangeError);
  });
});

describe('events named only by their data', () => {
  for (const [api, body, expected] of cases.filter(([api]) => api !== 'chat')) {
    it(`${api}: without \`event:\` lines`, async () => {
      const meter = createStreamMeter(api);
      meter.push(bytes(body.replace(/^event: .*\n/gm, '')));
      meter.end();
      expect(await meter.usage).toEqual(expected);
    });
  }
});

describe('providers that put usage on chunks with choices', () => {
  it('the last such usage, at [DONE]', async () => {
    const chunk = (content: string, completion: number) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }], usage: { prompt_tokens: 5, completion_tokens: completion } })}\n\n`;
    const meter = createStreamMeter('chat');
    meter.push(bytes(chunk('a', 1) + chunk('b', 2)));
    expect(meter.found).toBeUndefined();
    meter.push(bytes('data: [DONE]\n\n'));
    expect(await meter.usage).toMatchObject({ inputTokens: 5, outputTokens: 2 });
  });
});
