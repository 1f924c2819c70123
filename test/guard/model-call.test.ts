/**
 * Model calls through the Guard, on every engine: the hold priced from its
 * tokens with the policy's price table, the settle from the provider's usage
 * (cache reads and writes, tiers), the role's output cap for a request with no
 * limit, the roles narrowed by model globs, and the model on the decision.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    tg = await createTollgate({
      engine: ut.engine,
      policy: {
        roles: {
          coder: { models: ['priced-*'], max_output_tokens: 1000 },
          tester: { models: [] },
        },
        models: {
          'priced-a': {
            input_per_million: 2,
            output_per_million: 10,
            cache_read_per_million: 0.5,
            cache_write_per_million: 4,
            tiers: [{ above_input_tokens: 100_000, input_per_million: 4, output_per_million: 20 }],
          },
        },
      },
    });
  });
  afterAll(async () => {
    await tg.close();
    await ut.close();
  });

  async function register(role = 'coder'): Promise<string> {
    const id = uid('mc');
    await tg.identity.registerAgent(id, role, {}, { dailyCostLimit: 100 });
    return id;
  }

  it('holds the priced tokens; settles the usage at the table price', async () => {
    const id = await register();
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'priced-a',
      inputTokens: 1000,
      outputTokens: 500,
    });
    if (!d.allowed) throw new Error(`denied: ${d.reason}`);
    expect(d).toMatchObject({ model: 'priced-a', held_tokens: { input: 1000, output: 500 } });
    // 1000 × $2/M + 500 × $10/M = $0.007
    expect(d.budget_status.daily.cost_reserved).toBeCloseTo(0.007, 9);
    expect(d.budget_status.session.tokens_reserved).toBe(1500);
    const s = await tg.guard.settleModelCall(d.reservation_id, {
      model: 'priced-a',
      usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 600, cacheWriteTokens: 0 },
    });
    // 400 × $2/M + 600 × $0.5/M + 200 × $10/M = 0.0008 + 0.0003 + 0.002
    expect(s).toMatchObject({
      outcome: 'settled',
      cost: 0.0031,
      model: 'priced-a',
      priced_as: 'priced-a',
    });
    expect(s.budget_status.session).toMatchObject({ tokens_used: 1200, tokens_reserved: 0 });
  });

  it("holds the role's output cap when the request sets no limit, times its choices", async () => {
    const id = await register();
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'priced-a',
      inputTokens: 10,
      choices: 2,
    });
    expect(d).toMatchObject({ allowed: true, held_tokens: { input: 10, output: 2000 } });
    if (d.allowed) expect(d.budget_status.session.tokens_reserved).toBe(2010);
  });

  it('holds the dearer of input and cache-write pricing when the request may write the cache', async () => {
    const id = await register();
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'priced-a',
      inputTokens: 1000,
      outputTokens: 0,
      cacheWrite: '5m',
    });
    // 1000 × $4/M
    if (d.allowed) expect(d.budget_status.daily.cost_reserved).toBeCloseTo(0.004, 9);
    else throw new Error('denied');
  });

  it('denies a role whose model globs do not match, naming the model', async () => {
    const coder = await register('coder');
    const tester = await register('tester');
    const a = await tg.guard.authorizeModelCall(coder, {
      model: 'gpt-4o',
      inputTokens: 1,
      outputTokens: 1,
    });
    expect(a).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED', model: 'gpt-4o' });
    const b = await tg.guard.authorizeModelCall(tester, {
      model: 'priced-a',
      inputTokens: 1,
      outputTokens: 1,
    });
    expect(b).toMatchObject({ allowed: false, error_code: 'RBAC_DENIED', model: 'priced-a' });
  });

  it('an agent that does not exist is a denial, not an error', async () => {
    const d = await tg.guard.authorizeModelCall(uid('none'), { model: 'priced-a', inputTokens: 1 });
    expect(d).toMatchObject({ allowed: false, error_code: 'AGENT_NOT_FOUND', model: 'priced-a' });
  });

  it('a bad model name is VALIDATION_FAILED', async () => {
    const id = await register();
    await expect(
      tg.guard.authorizeModelCall(id, { model: 'no good', inputTokens: 1, outputTokens: 1 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('an unknown model is priced at default and says so; the settle is idempotent', async () => {
    const id = await register('researcher');
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'unknown-x',
      inputTokens: 100,
      outputTokens: 100,
    });
    if (!d.allowed) throw new Error('denied');
    const usage = { inputTokens: 100, outputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0 };
    const s = await tg.guard.settleModelCall(d.reservation_id, {
      model: 'unknown-x',
      usage,
      estimated: true,
    });
    // 100 × $3/M + 100 × $15/M
    expect(s).toMatchObject({ outcome: 'settled', cost: 0.0018, priced_as: 'default' });
    const again = await tg.guard.settleModelCall(d.reservation_id, {
      model: 'unknown-x',
      usage,
      estimated: true,
    });
    expect(again).toMatchObject({ outcome: 'already_closed', cost: 0.0018 });
  });

  it("a settle naming another model than the hold's is refused, and settles nothing", async () => {
    const id = await register();
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'priced-a',
      inputTokens: 10,
      outputTokens: 10,
    });
    if (!d.allowed) throw new Error('denied');
    const usage = { inputTokens: 10, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0 };
    await expect(
      tg.guard.settleModelCall(d.reservation_id, { model: 'priced-b', usage }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const s = await tg.guard.settleModelCall(d.reservation_id, { model: 'priced-a', usage });
    expect(s.outcome).toBe('settled');
  });

  it('the table price of a real model (gpt-4o, tiers by input)', async () => {
    const id = await register('researcher');
    const d = await tg.guard.authorizeModelCall(id, {
      model: 'gpt-4o',
      inputTokens: 1000,
      outputTokens: 1000,
    });
    if (!d.allowed) throw new Error('denied');
    // $2.50 + $10 per million
    expect(d.budget_status.daily.cost_reserved).toBeCloseTo(0.0125, 9);
  });
});
