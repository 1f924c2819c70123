/**
 * A rate-limited model call (docs/limits.md), on every engine, through
 * `tg.fetch`, `client.fetch` and the gateway: HTTP 429 in the provider's
 * shape (`rate_limit_exceeded` for OpenAI, `rate_limit_error` for Anthropic)
 * with `retry-after` (s) and `retry-after-ms`, and no `x-should-retry: false`,
 * so the SDKs treat it as the provider's own 429; the upstream never sees it.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { type Agent, describeWithRig, MESSAGES, ROUTES } from '../support/meter-harness.js';

describeWithRig((rig) => {
  /** An agent allowed one call a minute, that call made. */
  async function spent(): Promise<Agent> {
    const agent = await rig().register();
    await rig().tg.budget.setLimits(agent.id, { requestsPerMinute: 1 });
    expect((await rig().tg.guard.checkPermission(agent.id, 'read_file')).allowed).toBe(true);
    return agent;
  }

  describe.each(ROUTES)('through %s', (route) => {
    it('OpenAI: 429 rate_limit_exceeded with retry-after, the SDK may retry it', async () => {
      const agent = await spent();
      const { openai } = rig().clients(route, agent, { maxRetries: 0 });
      const e = await openai.chat.completions
        .create({ model: 'gpt-4o', messages: MESSAGES, max_tokens: 64 })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect(e).toBeInstanceOf(OpenAI.RateLimitError);
      const err = e as InstanceType<typeof OpenAI.APIError>;
      expect(err.status).toBe(429);
      expect(err.headers?.get('x-should-retry')).toBeNull();
      // The minute's one call was made just before (how long before depends on the
      // machine's load: the first call loads the o200k tables): the wait is the
      // rest of that minute.
      const ms = Number(err.headers?.get('retry-after-ms'));
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
      expect(err.headers?.get('retry-after')).toBe(String(Math.ceil(ms / 1000)));
      expect(err.error).toMatchObject({
        type: 'rate_limit_exceeded',
        code: 'RATE_LIMITED',
        decision: { error_code: 'RATE_LIMITED', exceeded: 'requests_per_minute', level: 'agent' },
      });
      expect(rig().upstream.requests).toHaveLength(0);
    });

    it('Anthropic: 429 rate_limit_error', async () => {
      const agent = await spent();
      const { anthropic } = rig().clients(route, agent, { maxRetries: 0 });
      const e = await anthropic.messages
        .create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: MESSAGES })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect(e).toBeInstanceOf(Anthropic.RateLimitError);
      const err = e as InstanceType<typeof Anthropic.APIError>;
      expect(err.status).toBe(429);
      expect(err.headers?.get('x-should-retry')).toBeNull();
      const ms = Number(err.headers?.get('retry-after-ms'));
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
      expect(err.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
      expect(rig().upstream.requests).toHaveLength(0);
    });
  });
});
