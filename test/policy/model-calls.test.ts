import { describe, expect, it } from 'vitest';
import { globMatches } from '../../src/policy/glob.js';
import { createPolicy, PolicyError } from '../../src/policy/index.js';

function rejection(input: unknown): PolicyError {
  try {
    createPolicy(input, './p.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('model globs', () => {
  it.each([
    ['gpt-4o*', 'gpt-4o', true],
    ['gpt-4o*', 'gpt-4o-mini', true],
    ['gpt-4o*', 'xgpt-4o', false],
    ['gpt-?o', 'gpt-4o', true],
    ['gpt-?o', 'gpt-40o', false],
    ['claude-*-4*', 'claude-sonnet-4-20250514', true],
    ['claude-*-4*', 'claude-3-haiku', false],
    ['*', 'anything/at:all', true],
    ['gpt-4.1', 'gpt-401', false],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'aXbYbZ', false],
    ['**', '', true],
  ])('%s ~ %s: %s', (glob, name, expected) => {
    expect(globMatches(glob, name)).toBe(expected);
  });
});

describe('model calls in the policy', () => {
  it('the eight guide roles may call any model; others none', () => {
    const policy = createPolicy();
    const p = policy.profile('model_call', 'gpt-4o');
    expect(p.operation).toBe('model_call');
    expect(p.allowedRoles).toEqual([
      'backend-dev',
      'code-analyzer',
      'coder',
      'ml-developer',
      'researcher',
      'reviewer',
      'system-architect',
      'tester',
    ]);
  });

  it("a role's models narrow the models it may call; `*` roles follow their globs too", () => {
    const policy = createPolicy({
      roles: {
        coder: { models: ['gpt-4o-mini', 'claude-*-4*'] },
        reviewer: { models: [] },
        ops: { session_token_limit: 1, daily_cost_limit: 1, permissions: ['*'], models: ['o?'] },
      },
    });
    const allowed = (model: string) => policy.profile('model_call', model).allowedRoles;
    expect(allowed('gpt-4o-mini')).toContain('coder');
    expect(allowed('gpt-4o')).not.toContain('coder');
    expect(allowed('claude-sonnet-4-20250514')).toContain('coder');
    expect(allowed('gpt-4o')).not.toContain('reviewer');
    expect(allowed('gpt-4o')).toContain('tester');
    expect(allowed('o3')).toContain('ops');
    expect(allowed('o3-mini')).not.toContain('ops');
    expect(policy.modelGlobs('coder')).toEqual(['gpt-4o-mini', 'claude-*-4*']);
    expect(policy.modelGlobs('tester')).toBeUndefined();
  });

  it("the profile names the model asked, at the price table's base rates", () => {
    const policy = createPolicy({
      models: { 'my-model': { input_per_million: 1.5, output_per_million: 6 } },
    });
    expect(policy.profile('model_call', 'my-model').rates).toEqual({
      model: 'my-model',
      inputMicrosPerMillion: 1_500_000,
      outputMicrosPerMillion: 6_000_000,
    });
    // A model the package knows: its real rates (gpt-4o: $2.50 / $10).
    expect(policy.profile('model_call', 'gpt-4o').rates).toEqual({
      model: 'gpt-4o',
      inputMicrosPerMillion: 2_500_000,
      outputMicrosPerMillion: 10_000_000,
    });
    // Unknown: named as asked, priced at `default`.
    expect(policy.profile('model_call', 'no-such-model-x').rates).toEqual({
      model: 'no-such-model-x',
      inputMicrosPerMillion: 3_000_000,
      outputMicrosPerMillion: 15_000_000,
    });
    // Kept: the same profile object on the next call.
    expect(policy.profile('model_call', 'gpt-4o')).toBe(policy.profile('model_call', 'gpt-4o'));
  });

  it('a model name the engine refuses is VALIDATION_FAILED', () => {
    const policy = createPolicy();
    for (const bad of ['', 'a{b}', 'gpt 4o', '-x', 'x'.repeat(129)]) {
      expect(() => policy.profile('model_call', bad)).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      );
    }
  });

  it('other operations keep the policy rates and their profiles', () => {
    const policy = createPolicy();
    expect(policy.profile('read_file', 'gpt-4o').rates.model).toBe('default');
  });
});

describe('prices in the policy', () => {
  it('overrides replace the table by exact name, with cache rates and tiers', () => {
    const policy = createPolicy({
      models: {
        'gpt-4o': {
          input_per_million: 2,
          output_per_million: 8,
          cache_read_per_million: 1,
          tiers: [{ above_input_tokens: 128_000, input_per_million: 4, output_per_million: 16 }],
        },
        claudeish: {
          input_per_million: 3,
          output_per_million: 15,
          cache_write_per_million: 3.75,
          cache_write_1h_per_million: 6,
        },
      },
    });
    const gpt = policy.prices.lookup('gpt-4o');
    expect(gpt).toMatchObject({ pricedAs: 'gpt-4o', source: 'override', unknown: false });
    expect(gpt.price.rates).toEqual({
      inputMicrosPerMillion: 2_000_000,
      outputMicrosPerMillion: 8_000_000,
      cacheReadMicrosPerMillion: 1_000_000,
      cacheWriteMicrosPerMillion: 2_000_000,
      cacheWrite1hMicrosPerMillion: 2_000_000,
    });
    expect(gpt.price.tiers).toEqual([
      {
        aboveInputTokens: 128_000,
        inputMicrosPerMillion: 4_000_000,
        outputMicrosPerMillion: 16_000_000,
        cacheReadMicrosPerMillion: 4_000_000,
        cacheWriteMicrosPerMillion: 4_000_000,
        cacheWrite1hMicrosPerMillion: 4_000_000,
      },
    ]);
    expect(policy.prices.lookup('claudeish').price.rates).toMatchObject({
      cacheWriteMicrosPerMillion: 3_750_000,
      cacheWrite1hMicrosPerMillion: 6_000_000,
    });
    // Not overridden: the package's price.
    expect(policy.prices.lookup('gpt-4o-mini')).toMatchObject({ source: 'table', unknown: false });
  });

  it("an unknown model is priced at the policy's default entry, never $0", () => {
    const policy = createPolicy({
      models: { default: { input_per_million: 1, output_per_million: 2 } },
    });
    const l = policy.prices.lookup('no-such-model-x');
    expect(l).toMatchObject({ pricedAs: 'default', source: 'default', unknown: true });
    expect(l.price.rates).toMatchObject({
      inputMicrosPerMillion: 1_000_000,
      outputMicrosPerMillion: 2_000_000,
    });
  });

  it('each policy has its own table', () => {
    const a = createPolicy({ models: { m1: { input_per_million: 1, output_per_million: 1 } } });
    const b = createPolicy();
    expect(a.prices.lookup('m1').unknown).toBe(false);
    expect(b.prices.lookup('m1').unknown).toBe(true);
  });
});

describe('the output cap', () => {
  it("is the role's, else the default role's, else 4,096", () => {
    expect(createPolicy().outputCap('coder')).toBe(4096);
    expect(createPolicy().outputCap('not-named')).toBe(4096);
    const policy = createPolicy({
      roles: { default: { max_output_tokens: 2000 }, coder: { max_output_tokens: 16_000 } },
    });
    expect(policy.outputCap('coder')).toBe(16_000);
    expect(policy.outputCap('tester')).toBe(2000);
    expect(policy.outputCap('not-named')).toBe(2000);
  });
});

describe('validation of the model fields', () => {
  it.each([
    [{ roles: { coder: { models: ['gpt 4o'] } } }, 'roles.coder.models[0]'],
    [{ roles: { coder: { models: 'gpt-4o' } } }, 'roles.coder.models'],
    [{ roles: { coder: { max_output_tokens: 0 } } }, 'roles.coder.max_output_tokens'],
    [{ roles: { coder: { max_output_tokens: 1_000_001 } } }, 'roles.coder.max_output_tokens'],
    [{ roles: { default: { models: ['*'] } } }, 'roles.default.models'],
    [
      { models: { default: { cache_read_per_million: -1 } } },
      'models.default.cache_read_per_million',
    ],
    [
      { models: { default: { tiers: [{ above_input_tokens: 10, input_per_million: 1 }] } } },
      'models.default.tiers[0].output_per_million',
    ],
    [
      {
        models: {
          default: {
            tiers: [
              { above_input_tokens: 10, input_per_million: 1, output_per_million: 1 },
              { above_input_tokens: 10, input_per_million: 2, output_per_million: 2 },
            ],
          },
        },
      },
      'models.default.tiers[1].above_input_tokens',
    ],
    [
      {
        models: {
          default: {
            tiers: [{ above_input_tokens: 1, input_per_million: 1, output_per_million: 1, x: 1 }],
          },
        },
      },
      'models.default.tiers[0].x',
    ],
  ])('%j is refused at %s', (input, path) => {
    expect(rejection(input).issues.map((i) => i.path)).toContain(path);
  });

  it('lists every problem at once, the merge ones included', () => {
    const err = rejection({
      default_estimate: -1,
      roles: {
        newbie: { permissions: ['model_call'] },
        default: { permissions: [] },
        coder: { models: ['bad glob'] },
      },
      models: { 'new-model': { input_per_million: 1 } },
    });
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      [
        'default_estimate',
        'models.new-model.output_per_million',
        'roles.coder.models[0]',
        'roles.default.permissions',
        'roles.newbie.daily_cost_limit',
        'roles.newbie.session_token_limit',
      ].sort(),
    );
    for (const i of err.issues) expect(err.message).toContain(i.path);
  });

  it('the merged document reads back unchanged', () => {
    const input = {
      roles: { coder: { models: ['gpt-*'], max_output_tokens: 1000 } },
      models: {
        x: {
          input_per_million: 1,
          output_per_million: 2,
          tiers: [{ above_input_tokens: 5, input_per_million: 2, output_per_million: 4 }],
        },
      },
    };
    const doc = createPolicy(input).doc;
    expect(createPolicy(JSON.parse(JSON.stringify(doc))).doc).toEqual(doc);
  });
});
