import { describe, expect, it } from 'vitest';
import { parseModelRequest } from '../../src/models/index.js';

describe('chat completions requests', () => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'x' } },
      ],
    },
    {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'look', arguments: '{"q":1}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'c1', content: 'a cat' },
  ];

  it('model, stream, texts per message, attachments, output limit', () => {
    const r = parseModelRequest('chat', { model: 'gpt-4o', messages, max_tokens: 300 });
    expect(r).toMatchObject({
      api: 'chat',
      model: 'gpt-4o',
      stream: false,
      maxOutputTokens: 300,
      choices: 1,
      attachments: 1,
      cacheWrite: 'none',
      serverContext: false,
      usageRequested: true,
      upstreamBody: undefined,
    });
    expect(r.texts).toEqual(['Be brief.', 'What is this?', 'look\n{"q":1}', 'a cat']);
    expect(r.overheadTokens).toBe(4 * 4 + 3);
  });

  it('max_completion_tokens wins over max_tokens; n multiplies the choices; tools and the schema are counted', () => {
    const tools = [
      { type: 'function', function: { name: 'look', parameters: { type: 'object' } } },
    ];
    const schema = { name: 's', schema: { type: 'object' } };
    const r = parseModelRequest('chat', {
      model: 'o3',
      messages: [],
      max_tokens: 10,
      max_completion_tokens: 20,
      n: 3,
      tools,
      response_format: { type: 'json_schema', json_schema: schema },
    });
    expect(r.maxOutputTokens).toBe(20);
    expect(r.choices).toBe(3);
    expect(r.texts).toEqual([JSON.stringify(tools), JSON.stringify(schema)]);
  });

  it('no output limit: undefined (the caller holds its cap)', () => {
    expect(
      parseModelRequest('chat', { model: 'gpt-4o', messages, max_tokens: 0 }).maxOutputTokens,
    ).toBeUndefined();
    expect(
      parseModelRequest('chat', { model: 'gpt-4o', messages }).maxOutputTokens,
    ).toBeUndefined();
  });

  it('a stream without include_usage: asks for it upstream, keeping the other stream options', () => {
    const body = {
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_obfuscation: false },
    };
    const r = parseModelRequest('chat', body);
    expect(r.stream).toBe(true);
    expect(r.usageRequested).toBe(false);
    expect(r.upstreamBody).toEqual({
      ...body,
      stream_options: { include_obfuscation: false, include_usage: true },
    });
    expect(body.stream_options).toEqual({ include_obfuscation: false }); // the caller's object is untouched
    const plain = parseModelRequest('chat', { model: 'gpt-4o', messages, stream: true });
    expect(plain.upstreamBody?.stream_options).toEqual({ include_usage: true });
  });

  it('a stream that asked for usage is sent as it is', () => {
    const r = parseModelRequest('chat', {
      model: 'gpt-4o',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(r).toMatchObject({ usageRequested: true, upstreamBody: undefined });
  });
});

describe('responses requests', () => {
  it('instructions, string input, output limit', () => {
    const r = parseModelRequest('responses', {
      model: 'gpt-5',
      instructions: 'Be brief.',
      input: 'Hello',
      max_output_tokens: 500,
      stream: true,
    });
    expect(r).toMatchObject({
      api: 'responses',
      stream: true,
      maxOutputTokens: 500,
      usageRequested: true,
      upstreamBody: undefined,
    });
    expect(r.texts).toEqual(['Be brief.', 'Hello']);
  });

  it('items: messages, parts, function calls and outputs, attachments', () => {
    const r = parseModelRequest('responses', {
      model: 'gpt-5',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'hi' },
            { type: 'input_image', image_url: 'x' },
          ],
        },
        { type: 'function_call', call_id: 'c', name: 'look', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c', output: 'done' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'ok' }] },
      ],
    });
    expect(r.texts).toEqual(['hi', 'look\n{}', 'done', 'ok']);
    expect(r.attachments).toBe(1);
    expect(r.serverContext).toBe(false);
  });

  it('context kept by the provider is flagged', () => {
    expect(
      parseModelRequest('responses', { model: 'gpt-5', input: 'x', previous_response_id: 'r1' })
        .serverContext,
    ).toBe(true);
    expect(
      parseModelRequest('responses', { model: 'gpt-5', input: 'x', conversation: 'c1' })
        .serverContext,
    ).toBe(true);
    expect(
      parseModelRequest('responses', {
        model: 'gpt-5',
        input: [{ type: 'item_reference', id: 'i' }],
      }).serverContext,
    ).toBe(true);
  });
});

describe('anthropic messages requests', () => {
  it('system, blocks, tool use and results, documents, output limit and the tool prompt', () => {
    const tools = [{ name: 'look', input_schema: { type: 'object' } }];
    const r = parseModelRequest('messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'Be brief.',
      tools,
      messages: [
        { role: 'user', content: 'What is this?' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 't', name: 'look', input: { q: 1 } }],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'a cat' }] },
            { type: 'image', source: { type: 'base64', data: 'AAAA' } },
            {
              type: 'document',
              source: { type: 'text', media_type: 'text/plain', data: 'doc text' },
            },
          ],
        },
      ],
    });
    expect(r).toMatchObject({
      api: 'messages',
      maxOutputTokens: 1024,
      attachments: 1,
      cacheWrite: 'none',
    });
    expect(r.texts).toEqual([
      'Be brief.',
      'What is this?',
      'look\n{"q":1}',
      'a cat\ndoc text',
      JSON.stringify(tools),
    ]);
    expect(r.overheadTokens).toBe(4 * 4 + 3 + 600);
  });

  it('cache_control: five minutes, or one hour when any block asks for it', () => {
    const five = parseModelRequest('messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(five.cacheWrite).toBe('5m');
    const hour = parseModelRequest('messages', {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral', ttl: '1h' } }],
        },
      ],
    });
    expect(hour.cacheWrite).toBe('1h');
  });
});

describe('refused bodies', () => {
  it('not an object, or no model', () => {
    expect(() => parseModelRequest('chat', [])).toThrow(/JSON object/);
    expect(() => parseModelRequest('messages', { messages: [] })).toThrow(/model/);
    expect(() => parseModelRequest('responses', { model: '' })).toThrow(/model/);
  });
});
