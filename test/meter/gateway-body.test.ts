/**
 * How the gateway reads a request's body (src/api/gateway/body.ts): taken at
 * once when it came with its head, and otherwise read as it arrives (in pieces,
 * chunked, gzip-encoded); a declared length over the limit is refused before
 * the body is read. Each time the upstream gets exactly the caller's request.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { GATEWAY_BODY_LIMIT_BYTES } from '../../src/api/gateway/gateway.js';
import { describeWithRig, FIGURES, GPT_4O_COST, MESSAGES } from '../support/meter-harness.js';

interface Sent {
  status: number;
  body: string;
}

/**
 * POSTs to the gateway's chat completions: the head with the first of `pieces`,
 * then the others `gapMs` apart (each its own packet), with a content-length
 * unless `chunked`.
 */
function post(
  base: string,
  key: string,
  pieces: Buffer[],
  o: { gapMs?: number; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const length = pieces.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(`${base}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(o.chunked ? {} : { 'content-length': String(length) }),
        ...o.headers,
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The head goes out with the first piece, in one packet; the others follow, each on its own.
    const [first, ...rest] = pieces;
    req.write(first as Buffer);
    void (async () => {
      for (const piece of rest) {
        await new Promise((r) => setTimeout(r, o.gapMs ?? 0));
        req.write(piece);
      }
      req.end();
    })();
  });
}

const callBody = (model = 'gpt-4o') => ({ model, messages: MESSAGES, max_tokens: 64 });

/** `text` cut into `n` pieces, one cut inside a multi-byte character. */
function piecesOf(text: string, n: number): Buffer[] {
  const bytes = Buffer.from(text);
  const size = Math.ceil(bytes.length / n);
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

describeWithRig((rig) => {
  const expectMetered = async (sent: Sent, agentId: string, body: unknown) => {
    expect(sent.status, sent.body).toBe(200);
    expect(JSON.parse(sent.body)).toMatchObject({ object: 'chat.completion' });
    expect(
      rig()
        .upstream.calls('chat')
        .map((r) => r.body),
    ).toEqual([body]);
    const s = await rig().whenNothingHeld(agentId);
    expect([s.dailyCostMicros, s.sessionTokensUsed]).toEqual([
      GPT_4O_COST,
      FIGURES.inputTokens + FIGURES.outputTokens,
    ]);
  };

  it('a body that came with its head: metered, the upstream gets it as sent', async () => {
    const agent = await rig().register();
    const body = { ...callBody(), messages: [{ role: 'user', content: 'Grüße, 東京 🚀' }] };
    await expectMetered(
      await post(rig().base, agent.key, [Buffer.from(JSON.stringify(body))]),
      agent.id,
      body,
    );
  });

  it('a body in pieces, the first with its head (a cut inside a character): read whole, then metered', async () => {
    const agent = await rig().register();
    const body = { ...callBody(), messages: [{ role: 'user', content: '東京 🚀 '.repeat(40) }] };
    const pieces = piecesOf(JSON.stringify(body), 4);
    await expectMetered(await post(rig().base, agent.key, pieces, { gapMs: 30 }), agent.id, body);
  });

  it('a chunked body (no content-length), in pieces: read whole, then metered', async () => {
    const agent = await rig().register();
    const body = callBody();
    const pieces = piecesOf(JSON.stringify(body), 3);
    await expectMetered(
      await post(rig().base, agent.key, pieces, { gapMs: 20, chunked: true }),
      agent.id,
      body,
    );
  });

  it('a gzip-encoded body: inflated, then metered', async () => {
    const agent = await rig().register();
    const body = callBody();
    const sent = await post(rig().base, agent.key, [gzipSync(JSON.stringify(body))], {
      headers: { 'content-encoding': 'gzip' },
    });
    await expectMetered(sent, agent.id, body);
  });

  it('a declared length over the limit: 413 in the provider shape at once, nothing held, the upstream never called', async () => {
    const agent = await rig().register();
    const sent = await new Promise<Sent>((resolve, reject) => {
      // Only the head is sent: the answer must not wait for a body that never comes.
      const req = request(`${rig().base}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${agent.key}`,
          'content-type': 'application/json',
          'content-length': String(GATEWAY_BODY_LIMIT_BYTES + 1),
        },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
          req.destroy();
        });
      });
      req.flushHeaders();
    });
    expect(sent.status).toBe(413);
    expect(JSON.parse(sent.body)).toMatchObject({
      error: { type: 'request_too_large', code: 'PAYLOAD_TOO_LARGE' },
    });
    expect(rig().upstream.calls()).toHaveLength(0);
    const s = await rig().status(agent.id);
    expect([s.dailyCostMicros, s.dailyReservedMicros, s.sessionTokensReserved]).toEqual([0, 0, 0]);
  });
});
