/**
 * Pools declared in the policy file (docs/policy.md, "Pools"): a list or a
 * mapping, zod-checked with every problem named at once (parents declared in
 * the file, at most three levels, ids unique, zones the runtime knows), kept
 * in the merged document as a mapping, and given to the startup parents first
 * in engine units (`policy.pools`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPolicy, loadPolicy, PolicyError } from '../../src/policy/index.js';

function rejection(input: unknown): PolicyError {
  try {
    createPolicy(input, './p.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

const paths = (e: PolicyError) => e.issues.map((i) => i.path);

describe('policy pools: what is accepted', () => {
  it('a list: each entry names its pool; declarations come parents first, in micro-dollars', () => {
    const policy = createPolicy({
      pools: [
        { pool_id: 'web', parent: 'eng', requests_per_minute: 600, time_zone: 'Europe/Berlin' },
        { pool_id: 'eng', daily_cost_limit: 100, monthly_cost_limit: 2000.5 },
        { pool_id: 'web-ci', parent: 'web', tokens_per_minute: 50_000 },
      ],
    });
    expect(policy.pools).toEqual([
      {
        poolId: 'eng',
        parentId: null,
        dailyLimitMicros: 100_000_000,
        monthlyLimitMicros: 2_000_500_000,
        requestsPerMinute: 0,
        tokensPerMinute: 0,
        timeZone: 'UTC',
      },
      {
        poolId: 'web',
        parentId: 'eng',
        dailyLimitMicros: 0,
        monthlyLimitMicros: 0,
        requestsPerMinute: 600,
        tokensPerMinute: 0,
        timeZone: 'Europe/Berlin',
      },
      {
        poolId: 'web-ci',
        parentId: 'web',
        dailyLimitMicros: 0,
        monthlyLimitMicros: 0,
        requestsPerMinute: 0,
        tokensPerMinute: 50_000,
        timeZone: 'UTC',
      },
    ]);
    // The document keeps them as a mapping, in file order, without pool_id.
    expect(policy.doc.pools).toEqual({
      web: { parent: 'eng', requests_per_minute: 600, time_zone: 'Europe/Berlin' },
      eng: { daily_cost_limit: 100, monthly_cost_limit: 2000.5 },
      'web-ci': { parent: 'web', tokens_per_minute: 50_000 },
    });
    expect(Object.isFrozen(policy.doc.pools)).toBe(true);
    expect(Object.isFrozen(policy.pools[0])).toBe(true);
  });

  it('a mapping: the key names the pool (pool_id, if given, is the key)', () => {
    const policy = createPolicy({
      pools: {
        research: { daily_cost_limit: 50 },
        'research-gpu': { pool_id: 'research-gpu', parent: 'research', daily_cost_limit: 20 },
      },
    });
    expect(policy.pools.map((p) => [p.poolId, p.parentId, p.dailyLimitMicros])).toEqual([
      ['research', null, 50_000_000],
      ['research-gpu', 'research', 20_000_000],
    ]);
    expect(policy.doc.pools?.['research-gpu']).toEqual({
      parent: 'research',
      daily_cost_limit: 20,
    });
  });

  it('the merged document reads back as a file unchanged', () => {
    const policy = createPolicy({
      pools: [
        { pool_id: 'a', daily_cost_limit: 1 },
        { pool_id: 'b', parent: 'a' },
      ],
    });
    const again = createPolicy(JSON.parse(JSON.stringify(policy.doc)));
    expect(again.doc).toEqual(policy.doc);
    expect(again.pools).toEqual(policy.pools);
  });

  it('no pools: none declared, and the document has no pools key', () => {
    const policy = createPolicy({ roles: { coder: { session_token_limit: 1000 } } });
    expect(policy.pools).toEqual([]);
    expect(Object.hasOwn(policy.doc, 'pools')).toBe(false);
    expect(createPolicy().pools).toEqual([]);
    expect(createPolicy({ pools: [] }).pools).toEqual([]);
  });

  it('three levels are allowed', () => {
    const policy = createPolicy({
      pools: { a: {}, b: { parent: 'a' }, c: { parent: 'b' } },
    });
    expect(policy.pools.map((p) => p.poolId)).toEqual(['a', 'b', 'c']);
  });

  it('reads pools from a YAML file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-pools-'));
    try {
      const path = join(dir, 'p.yaml');
      await writeFile(
        path,
        [
          'pools:',
          '  - { pool_id: eng, daily_cost_limit: 100.00, time_zone: America/New_York }',
          '  - pool_id: web',
          '    parent: eng',
          '    requests_per_minute: 120',
          '',
        ].join('\n'),
      );
      const policy = await loadPolicy(path);
      expect(policy.pools.map((p) => [p.poolId, p.parentId, p.timeZone])).toEqual([
        ['eng', null, 'America/New_York'],
        ['web', 'eng', 'UTC'],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('policy pools: every problem at once, each naming its field', () => {
  it('fields, ids, duplicates, missing parents and zones, in a list', () => {
    const e = rejection({
      pools: [
        { pool_id: 'a', daily_cost_limit: -1, colour: 'red' },
        { pool_id: 'a' },
        { pool_id: 'b', parent: 'nowhere' },
        { pool_id: 'c', time_zone: 'Mars/Olympus_Mons', requests_per_minute: 1.5 },
        { pool_id: 'bad id' },
        { daily_cost_limit: 1 },
        { pool_id: 'd', monthly_cost_limit: 0.0000001, tokens_per_minute: -3 },
      ],
    });
    expect(paths(e).sort()).toEqual(
      [
        'pools[0].daily_cost_limit',
        'pools[0].colour',
        'pools[1].pool_id',
        'pools[2].parent',
        'pools[3].time_zone',
        'pools[3].requests_per_minute',
        'pools[4].pool_id',
        'pools[5].pool_id',
        'pools[6].monthly_cost_limit',
        'pools[6].tokens_per_minute',
      ].sort(),
    );
    expect(e.message).toMatch(/^Invalid policy in \.\/p\.yaml: /);
    expect(e.message).toContain('pools[0].colour: unknown key (allowed: pool_id, parent,');
    expect(e.message).toContain('pools[1].pool_id: pool "a" is declared twice (first at pools[0])');
    expect(e.message).toContain('pools[2].parent: no pool "nowhere" is declared in this file');
    expect(e.message).toContain('pools[3].time_zone: expected an IANA time zone name');
  });

  it('depth, loops and keys, in a mapping', () => {
    const e = rejection({
      pools: {
        a: {},
        b: { parent: 'a' },
        c: { parent: 'b' },
        d: { parent: 'c' },
        self: { parent: 'self' },
        x: { parent: 'y' },
        y: { parent: 'x' },
        k: { pool_id: 'other' },
        'no good': {},
      },
    });
    expect(paths(e).sort()).toEqual(
      [
        'pools.d.parent',
        'pools.self.parent',
        'pools.x.parent',
        'pools.y.parent',
        'pools.k.pool_id',
        'pools["no good"]',
      ].sort(),
    );
    expect(e.message).toContain(
      'pools.d.parent: pools have at most 3 levels: "d" would be level 4 (a > b > c > d)',
    );
    expect(e.message).toContain('pools.x.parent: the parents loop: x > y > x');
    expect(e.message).toContain('pools.k.pool_id: must be the entry\'s key ("k")');
  });

  it('pool problems are listed with the rest of the file', () => {
    const e = rejection({
      roles: { coder: { session_token_limit: -5 } },
      pools: [{ pool_id: 'a', parent: 'b' }],
    });
    expect(paths(e)).toEqual(['roles.coder.session_token_limit', 'pools[0].parent']);
  });

  it('a section that is neither a list nor a mapping', () => {
    for (const bad of [5, 'eng', null, true]) {
      const e = rejection({ pools: bad });
      expect(paths(e)).toEqual(['pools']);
      expect(e.message).toContain(
        'pools: expected a list of pools, or a mapping of pool ids to pools',
      );
    }
    expect(paths(rejection({ pools: [5, 'x'] }))).toEqual(['pools[0]', 'pools[1]']);
  });
});
