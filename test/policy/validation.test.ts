import { describe, expect, it } from 'vitest';
import { createPolicy, PolicyError } from '../../src/policy/index.js';

/** Runs createPolicy and returns the PolicyError it throws. */
function rejection(input: unknown, source = './p.yaml'): PolicyError {
  try {
    createPolicy(input, source);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

const role = (fields: Record<string, unknown>) => ({ roles: { coder: fields } });
const model = (fields: Record<string, unknown>) => ({ models: { default: fields } });
const op = (fields: Record<string, unknown>) => ({ operations: { read_file: fields } });

interface Rule {
  field: string;
  build: (value: unknown) => unknown;
  bad: unknown[];
  good: unknown[];
}

const RULES: Rule[] = [
  {
    field: 'roles.coder.session_token_limit',
    build: (v) => role({ session_token_limit: v }),
    bad: [0, -1, 1.5, '80000', null, true, 1e12 + 1, Number.POSITIVE_INFINITY, Number.NaN],
    good: [1, 80_000, 1e12],
  },
  {
    field: 'roles.coder.daily_cost_limit',
    build: (v) => role({ daily_cost_limit: v }),
    bad: [-0.01, 1e6 + 0.5, 1.0000001, 0.0000001, '8.00', null, Number.POSITIVE_INFINITY],
    good: [0, 8, 8.123456, 0.000001, 1e6],
  },
  {
    field: 'roles.coder.monthly_cost_limit',
    build: (v) => role({ monthly_cost_limit: v }),
    bad: [-1, 1e6 + 1, 1.0000001, '90', null],
    good: [0, 90, 0.000001, 1e6],
  },
  {
    field: 'roles.coder.time_zone',
    build: (v) => role({ time_zone: v }),
    bad: ['Mars/Olympus_Mons', 'Europe/Berlinn', '', 'Europe Berlin', 7, null],
    good: ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'],
  },
  {
    field: 'operations.read_file.estimated_tokens',
    build: (v) => op({ estimated_tokens: v }),
    bad: [0, -5, 2.5, '5000', 10_000_001],
    good: [1, 5000, 10_000_000],
  },
  {
    field: 'default_estimate',
    build: (v) => ({ default_estimate: v }),
    bad: [0, -1, 0.5, '1000', 10_000_001, null],
    good: [1, 10_000_000],
  },
  {
    field: 'models.default.input_per_million',
    build: (v) => model({ input_per_million: v }),
    bad: [-0.000001, 500.000001, 0.1234567, '3', null],
    good: [0, 0.15, 3.123456, 500],
  },
  {
    field: 'models.default.output_per_million',
    build: (v) => model({ output_per_million: v }),
    bad: [-1, 501, 1e-7],
    good: [0, 15, 500],
  },
  {
    field: 'reservation_lease_seconds',
    build: (v) => ({ reservation_lease_seconds: v }),
    bad: [0, -1, 86_401, 1.5, '300'],
    good: [1, 300, 86_400],
  },
  {
    field: 'version',
    build: (v) => ({ version: v }),
    bad: [0, 2, '1', null],
    good: [1],
  },
  {
    field: 'roles.coder.permissions',
    build: (v) => role({ permissions: v }),
    bad: ['read_file', { read_file: true }, null],
    good: [[], ['*'], ['read_file', 'fs.write', 'a'.repeat(64)]],
  },
];

describe('policy validation: each rule names the field', () => {
  for (const rule of RULES) {
    describe(rule.field, () => {
      for (const value of rule.bad) {
        it(`rejects ${String(JSON.stringify(value) ?? value)}`, () => {
          const err = rejection(rule.build(value));
          expect(err.message).toContain(`Invalid policy in ./p.yaml: ${rule.field}: `);
          expect(err.issues.map((i) => i.path)).toContain(rule.field);
        });
      }
      for (const value of rule.good) {
        it(`accepts ${JSON.stringify(value)}`, () => {
          expect(() => createPolicy(rule.build(value))).not.toThrow();
        });
      }
    });
  }

  it('names the file, the field and the rule for a bad session limit', () => {
    expect(rejection(role({ session_token_limit: -5 })).message).toMatch(
      /^Invalid policy in \.\/p\.yaml: roles\.coder\.session_token_limit: expected a positive integer/,
    );
  });

  it('says what is wrong with money and numbers', () => {
    expect(rejection(role({ daily_cost_limit: 1.0000001 })).message).toContain(
      'roles.coder.daily_cost_limit: expected at most 6 decimal places',
    );
    expect(rejection(role({ session_token_limit: 1e12 + 1 })).message).toContain(
      'no greater than 1000000000000',
    );
    expect(rejection(role({ session_token_limit: '80000' })).message).toContain('(got "80000")');
  });

  it('names a bad permission entry by index', () => {
    const err = rejection(role({ permissions: ['read_file', 'rm -rf', 7, '**'] }));
    expect(err.issues.map((i) => i.path)).toEqual([
      'roles.coder.permissions[1]',
      'roles.coder.permissions[2]',
      'roles.coder.permissions[3]',
    ]);
    expect(err.message).toContain('roles.coder.permissions[1]: expected an operation name or "*"');
  });

  it('refuses permissions on the default role', () => {
    const err = rejection({ roles: { default: { permissions: ['read_file'] } } });
    expect(err.message).toContain('roles.default.permissions: the "default" role cannot carry');
    expect(rejection({ roles: { default: { permissions: [] } } }).issues[0]?.path).toBe(
      'roles.default.permissions',
    );
  });

  it('needs both limits for a role not in the defaults', () => {
    const err = rejection({ roles: { 'ops-bot': { permissions: ['deploy'] } } });
    expect(err.issues.map((i) => i.path)).toEqual([
      'roles.ops-bot.session_token_limit',
      'roles.ops-bot.daily_cost_limit',
    ]);
    expect(rejection({ roles: { 'ops-bot': { session_token_limit: 5 } } }).message).toContain(
      'roles.ops-bot.daily_cost_limit: required',
    );
  });

  it('needs both prices for a model not in the defaults', () => {
    const err = rejection({ models: { 'gpt-4.1': { input_per_million: 2 } } });
    expect(err.message).toContain('models["gpt-4.1"].output_per_million: required');
  });

  it('needs estimated_tokens in an operation entry', () => {
    expect(rejection({ operations: { deploy: {} } }).message).toContain(
      'operations.deploy.estimated_tokens: required',
    );
  });

  describe('names', () => {
    const badRoles = ['bad name', '-lead', '_x', 'a.b', 'a'.repeat(65), 'ünïcode', 'a:b', '*'];
    for (const name of badRoles) {
      it(`rejects role name ${JSON.stringify(name)}`, () => {
        const err = rejection({
          roles: { [name]: { session_token_limit: 1, daily_cost_limit: 1 } },
        });
        expect(err.message).toContain('invalid role name');
        expect(err.issues[0]?.path.startsWith('roles')).toBe(true);
        expect(err.message).toContain(name.length > 40 ? name.slice(0, 40) : name);
      });
    }
    it('accepts role names up to 64 characters with _ and -', () => {
      const roles = {
        ['a'.repeat(64)]: { session_token_limit: 1, daily_cost_limit: 1 },
        'A_b-9': { session_token_limit: 1, daily_cost_limit: 1 },
      };
      expect(createPolicy({ roles }).knownRoles()).toContain('A_b-9');
    });

    const badOps = ['a b', '.x', 'fs/read', 'a'.repeat(65), ''];
    for (const name of badOps) {
      it(`rejects operation name ${JSON.stringify(name)}`, () => {
        const err = rejection({ operations: { [name]: { estimated_tokens: 1 } } });
        expect(err.message).toContain('invalid operation name');
        expect(err.issues[0]?.path.startsWith('operations')).toBe(true);
      });
    }
    it('accepts operation names with dots', () => {
      expect(
        createPolicy({ operations: { 'fs.read_v2': { estimated_tokens: 7 } } }).estimate(
          'fs.read_v2',
        ),
      ).toBe(7);
    });

    const badModels = ['bad model', '/x', 'a'.repeat(129), 'm@1'];
    for (const name of badModels) {
      it(`rejects model name ${JSON.stringify(name.slice(0, 20))}`, () => {
        const err = rejection({
          models: { [name]: { input_per_million: 1, output_per_million: 1 } },
        });
        expect(err.message).toContain('invalid model name');
        expect(err.issues[0]?.path.startsWith('models')).toBe(true);
      });
    }
    it('accepts model names with . _ : / -', () => {
      const name = 'openai/gpt-4.1_mini:2025-04';
      const policy = createPolicy({
        models: { [name]: { input_per_million: 1, output_per_million: 2 } },
      });
      expect(policy.rates(name).model).toBe(name);
      expect(() =>
        createPolicy({
          models: { ['m'.repeat(128)]: { input_per_million: 1, output_per_million: 1 } },
        }),
      ).not.toThrow();
    });
  });

  describe('unknown keys are refused at every level, naming the key', () => {
    const cases: [unknown, string][] = [
      [{ role: {} }, 'role: unknown key'],
      [role({ sesion_token_limit: 1 }), 'roles.coder.sesion_token_limit: unknown key'],
      [op({ estimated_tokens: 1, cost: 2 }), 'operations.read_file.cost: unknown key'],
      [model({ input: 1 }), 'models.default.input: unknown key'],
    ];
    for (const [input, expected] of cases) {
      it(expected, () => {
        const err = rejection(input);
        expect(err.message).toContain(expected);
        expect(err.message).toContain('allowed:');
      });
    }
    it('lists the allowed keys', () => {
      expect(rejection(role({ limit: 1 })).message).toContain(
        'roles.coder.limit: unknown key (allowed: session_token_limit, daily_cost_limit, requests_per_minute, tokens_per_minute, monthly_cost_limit, time_zone, permissions, models, max_output_tokens, shadow)',
      );
    });
  });

  describe('shapes', () => {
    const cases: [unknown, string][] = [
      ['hello', '(root): expected a mapping, got "hello"'],
      [[], '(root): expected a mapping, got a list'],
      [42, '(root): expected a mapping, got 42'],
      [{ roles: null }, 'roles: expected a mapping, got null'],
      [{ roles: [] }, 'roles: expected a mapping, got a list'],
      [{ roles: { coder: 5 } }, 'roles.coder: expected a mapping, got 5'],
      [{ models: 'cheap' }, 'models: expected a mapping, got "cheap"'],
      [{ operations: { read_file: 5000 } }, 'operations.read_file: expected a mapping, got 5000'],
    ];
    for (const [input, expected] of cases) {
      it(expected, () => {
        expect(rejection(input).message).toContain(expected);
      });
    }
  });

  it('reports every problem at once, each with its path', () => {
    const err = rejection({
      version: 2,
      roles: { coder: { session_token_limit: 0, daily_cost_limit: -1 } },
      default_estimate: 0,
      extra: true,
    });
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.name).toBe('PolicyError');
    expect(err.issues.map((i) => i.path).sort()).toEqual([
      'default_estimate',
      'extra',
      'roles.coder.daily_cost_limit',
      'roles.coder.session_token_limit',
      'version',
    ]);
  });

  it('says "Invalid policy" without a source', () => {
    try {
      createPolicy({ default_estimate: 0 });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^Invalid policy: default_estimate: /);
    }
  });
});

describe('role periods: time_zone and monthly_cost_limit', () => {
  it('reach rolePeriods in micro-dollars; a role without them gets UTC and none', () => {
    const policy = createPolicy({
      roles: {
        coder: { time_zone: 'America/New_York', monthly_cost_limit: 90.5 },
        default: { monthly_cost_limit: 1 },
      },
    });
    expect(policy.rolePeriods('coder')).toEqual({
      monthlyLimitMicros: 90_500_000,
      timeZone: 'America/New_York',
    });
    expect(policy.rolePeriods('reviewer')).toEqual({ monthlyLimitMicros: 0, timeZone: 'UTC' });
    expect(policy.rolePeriods('not-in-policy')).toEqual({
      monthlyLimitMicros: 1_000_000,
      timeZone: 'UTC',
    });
  });

  it('an unknown zone is a policy error naming the field', () => {
    const err = rejection(role({ time_zone: 'Europe/Atlantis' }));
    expect(err.message).toContain('roles.coder.time_zone: expected an IANA time zone name');
  });
});
