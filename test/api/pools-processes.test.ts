/**
 * Pools under load across processes (issue 20): three `tollgate serve` (from
 * source) on one Redis, then on the run's 3-node Cluster; one organization
 * over two teams (team-b with a requests_per_minute limit) over 6 agents, each
 * level with a daily cost limit; 50 SDK clients spread over the processes,
 * each looping authorize then settle (usage some above, some below the
 * estimate) until denied repeatedly. Then, read through the API: no level
 * held past its limit, nothing left held, and the books exact at every level.
 *
 * Usage above a hold is recorded, never refused (docs/engine.md, overrun),
 * so a level's settled spend may pass its limit by the overruns settled
 * beneath it: what the engine promises, and what is checked, is that the
 * spend less those overruns stays within the limit.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Decision, TollgateApiError, TollgateClient } from '../../src/client/index.js';
import { uid } from '../support/engines.js';
import { spawnServe, stopProcess } from '../support/serve-process.js';

const ADMIN = 'pools-mp-admin-token-0123456789ab'; // 32+ characters
const PROCESSES = 3;
const CLIENTS = 50;
const AGENTS_PER_TEAM = 3;
/** Daily limits, micro-dollars (µ$): each team's agents together may pass their team, the teams their org. */
const AGENT_LIMIT = 200_000;
const TEAM_A_LIMIT = 450_000;
const TEAM_B_LIMIT = 500_000;
const ORG_LIMIT = 800_000;
/** team-b's requests a minute: a burst of 20, then one every 3 s (docs/limits.md, GCRA); it binds before team-b's cost. */
const TEAM_B_RPM = 20;
/** A client stops after this many denials in a row, this many rounds, or LOAD_MS. */
const DENIED_IN_A_ROW = 8;
const ROUNDS_PER_CLIENT = 60;
const LOAD_MS = 15_000;

const usd = (micros: number) => micros / 1_000_000;
const micros = (x: number) => Math.round(x * 1_000_000);
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

interface Engine {
  name: string;
  mode: 'redis' | 'cluster';
  env: () => NodeJS.ProcessEnv;
}

const ENGINES: Engine[] = [
  {
    name: 'Redis',
    mode: 'redis',
    env: () => ({ REDIS_URL: inject('redisUrl'), REDIS_CLUSTER_NODES: '' }),
  },
  {
    name: 'Redis Cluster',
    mode: 'cluster',
    env: () => ({
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: inject('clusterNodes')
        .map((n) => `${n.host}:${n.port}`)
        .join(','),
    }),
  },
];

interface Api {
  url: string;
  proc: ChildProcess;
  output: () => string;
}

const children: ChildProcess[] = [];
const dataDirs: string[] = [];

/** Starts `tollgate serve --port 0` on the engine and reads the banner for its URL and mode. */
async function startServe(engine: Engine): Promise<Api> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tg-pools-mp-'));
  dataDirs.push(dataDir);
  const { proc, output } = await spawnServe(
    {
      ...engine.env(),
      DATABASE_URL: '',
      TOLLGATE_POLICY: '',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      PORT: '',
    },
    // The banner: the URL line, then the configuration as JSON (ends with "}").
    /Tollgate listening on http:\/\/localhost:\d+\n[\s\S]*\}\s*$/,
  );
  children.push(proc);
  const out = output();
  const url = /Tollgate listening on (http:\/\/localhost:\d+)/.exec(out)?.[1] ?? '';
  const json = /^\{[\s\S]*?^\}/m.exec(out)?.[0] ?? '{}';
  expect((JSON.parse(json) as { mode?: string }).mode).toBe(engine.mode);
  return { url, proc, output };
}

afterAll(async () => {
  await Promise.all(children.map(stopProcess));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(ENGINES)('pools over three API processes, $name', (engine) => {
  let apis: Api[] = [];
  beforeAll(async () => {
    apis = await Promise.all(Array.from({ length: PROCESSES }, () => startServe(engine)));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(apis.map((a) => stopProcess(a.proc)));
  });

  it('50 clients, 6 agents, 2 teams, 1 org: no level held past its limit, nothing held, exact totals', {
    timeout: 60_000,
  }, async () => {
    const admin = (i: number) =>
      new TollgateClient({ baseUrl: apis[i % PROCESSES]?.url ?? '', token: ADMIN, retries: 1 });
    // The tree, each pool made through another process.
    const org = uid('org');
    const teams = [uid('team-a'), uid('team-b')] as const;
    await admin(0).createPool({ pool_id: org, daily_cost_limit: usd(ORG_LIMIT) });
    await admin(1).createPool({
      pool_id: teams[0],
      parent_id: org,
      daily_cost_limit: usd(TEAM_A_LIMIT),
    });
    await admin(2).createPool({
      pool_id: teams[1],
      parent_id: org,
      daily_cost_limit: usd(TEAM_B_LIMIT),
      requests_per_minute: TEAM_B_RPM,
    });
    const agents: { id: string; team: 0 | 1; key: string }[] = [];
    for (let a = 0; a < 2 * AGENTS_PER_TEAM; a++) {
      const team = a < AGENTS_PER_TEAM ? 0 : 1;
      const id = uid(`pm${team === 0 ? 'a' : 'b'}`);
      const reg = await admin(a).registerAgent({
        agent_id: id,
        role: 'coder',
        pool_id: teams[team],
      });
      expect(reg.pool_id).toBe(teams[team]);
      // Only the daily cost limit binds at the agent (the role's session limit lifted).
      const limits = await admin(a + 1).setLimits(id, {
        daily_cost_limit: usd(AGENT_LIMIT),
        session_token_limit: 10_000_000,
      });
      expect(limits.daily.cost_limit).toBe(usd(AGENT_LIMIT));
      agents.push({ id, team, key: reg.api_key });
    }
    const day = (await admin(2).getPool(org)).daily.date;

    // What the clients saw, per agent.
    const settled = agents.map(() => ({ cost: 0, overrun: 0, count: 0 }));
    const allowedByTeam = [0, 0];
    const perProcess = new Array<number>(PROCESSES).fill(0);
    const denials: Record<string, number> = {};
    const errors: string[] = [];
    let above = 0;
    let below = 0;
    /** Clients that stopped on DENIED_IN_A_ROW denials (not on rounds or time). */
    let stoppedDenied = 0;
    const started = Date.now();
    const stopAt = started + LOAD_MS;

    const client = async (i: number) => {
      const p = i % PROCESSES;
      const a = i % agents.length;
      const agent = agents[a] as (typeof agents)[number];
      const tally = settled[a] as (typeof settled)[number];
      // Half with the agent's key, half with the admin token; one attempt per
      // request, so a 5xx surfaces here instead of being retried away.
      const sdk = new TollgateClient({
        baseUrl: apis[p]?.url ?? '',
        token: i % 2 === 0 ? agent.key : ADMIN,
        retries: 1,
      });
      let deniedInARow = 0;
      for (
        let round = 0;
        round < ROUNDS_PER_CLIENT && deniedInARow < DENIED_IN_A_ROW && Date.now() < stopAt;
        round++
      ) {
        try {
          const estimate = rand(500, 3_000);
          const d: Decision = await sdk.authorize({
            agent_id: agent.id,
            operation: 'read_file',
            estimated_tokens: estimate,
          });
          perProcess[p] = (perProcess[p] ?? 0) + 1;
          if (!d.allowed) {
            deniedInARow++;
            const kind = `${d.error_code}:${d.exceeded}:${d.level === 'agent' ? 'agent' : d.level === org ? 'org' : d.level === teams[0] ? 'team-a' : d.level === teams[1] ? 'team-b' : d.level}`;
            denials[kind] = (denials[kind] ?? 0) + 1;
            // A wait, doubled at each denial in a row (20 ms to 320 ms): holds in
            // flight may settle below their estimate and free room.
            const wait =
              d.error_code === 'RATE_LIMITED'
                ? Math.min(d.retry_after_ms ?? 100, 250)
                : Math.min(20 * 2 ** (deniedInARow - 1), 320);
            await new Promise((r) => setTimeout(r, wait));
            continue;
          }
          deniedInARow = 0;
          allowedByTeam[agent.team] = (allowedByTeam[agent.team] ?? 0) + 1;
          // Usage 30% to 160% of the estimate, split at random between input and output.
          const used = Math.round((estimate * rand(30, 160)) / 100);
          const input = rand(0, used);
          if (used > estimate) above++;
          else below++;
          const s = await sdk.settle({
            reservation_id: d.reservation_id,
            input_tokens: input,
            output_tokens: used - input,
            result: 'success',
          });
          expect(s.outcome).toBe('settled');
          tally.cost += micros(s.cost);
          tally.overrun += micros(s.overrun_cost);
          tally.count++;
        } catch (e) {
          errors.push(
            e instanceof TollgateApiError
              ? `${e.status} ${e.code}: ${e.message}`
              : `${(e as Error).name}: ${(e as Error).message}`,
          );
        }
      }
      if (deniedInARow >= DENIED_IN_A_ROW) stoppedDenied++;
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    const elapsedMs = Date.now() - started;

    const summary = JSON.stringify({
      elapsedMs,
      settled,
      allowedByTeam,
      denials,
      perProcess,
      above,
      below,
      stoppedDenied,
    });
    expect(errors, `${errors.slice(0, 5).join('\n')}\n${summary}`).toEqual([]);

    // The books, each level read through another process.
    const status = await Promise.all(agents.map((a, i) => admin(i).getBudgetStatus(a.id)));
    const [orgStatus, teamA, teamB] = await Promise.all([
      admin(0).getPool(org),
      admin(1).getPool(teams[0]),
      admin(2).getPool(teams[1]),
    ]);
    expect(orgStatus.pool_ids).toEqual([...teams].sort());
    expect(teamA.agent_ids).toEqual(
      agents
        .filter((a) => a.team === 0)
        .map((a) => a.id)
        .sort(),
    );
    expect(teamB.agent_ids).toEqual(
      agents
        .filter((a) => a.team === 1)
        .map((a) => a.id)
        .sort(),
    );

    // Nothing left held, at any level.
    for (const s of status) {
      expect(s.daily.cost_reserved, summary).toBe(0);
      expect(s.monthly.cost_reserved, summary).toBe(0);
      expect(s.session.tokens_reserved, summary).toBe(0);
    }
    for (const p of [orgStatus, teamA, teamB]) {
      expect(p.daily.cost_reserved, `${p.pool_id} ${summary}`).toBe(0);
      expect(p.monthly.cost_reserved, `${p.pool_id} ${summary}`).toBe(0);
    }
    // (Cost goes to the day of the settle: the daily sums only if the run did not cross midnight UTC.)
    const sameDay = orgStatus.daily.date === day;
    if (sameDay) {
      // Each agent: its spend is what its settles answered, overruns included.
      status.forEach((s, a) => {
        const seen = settled[a] as (typeof settled)[number];
        expect(micros(s.daily.cost_used), `agent ${a} ${summary}`).toBe(seen.cost);
        expect(micros(s.daily.cost_overrun), `agent ${a} ${summary}`).toBe(seen.overrun);
        expect(seen.cost - seen.overrun, `agent ${a} ${summary}`).toBeLessThanOrEqual(AGENT_LIMIT);
      });
      // Each team and the org: the sum beneath it, and within its limit but for the overruns.
      const beneath = (team: 0 | 1 | null) => {
        const of = settled.filter((_, a) => team === null || agents[a]?.team === team);
        return { cost: sum(of.map((s) => s.cost)), overrun: sum(of.map((s) => s.overrun)) };
      };
      const levels = [
        { pool: teamA, limit: TEAM_A_LIMIT, seen: beneath(0) },
        { pool: teamB, limit: TEAM_B_LIMIT, seen: beneath(1) },
        { pool: orgStatus, limit: ORG_LIMIT, seen: beneath(null) },
      ];
      for (const { pool, limit, seen } of levels) {
        const what = `${pool.pool_id} ${summary}`;
        expect(micros(pool.daily.cost_used), what).toBe(seen.cost);
        expect(micros(pool.monthly.cost_used), what).toBeGreaterThanOrEqual(seen.cost);
        expect(seen.cost - seen.overrun, what).toBeLessThanOrEqual(limit);
        expect(pool.daily.cost_limit).toBe(usd(limit));
      }
      const orgUsed = micros(orgStatus.daily.cost_used);
      expect(orgUsed).toBe(micros(teamA.daily.cost_used) + micros(teamB.daily.cost_used));
      expect(orgUsed).toBe(sum(status.map((s) => micros(s.daily.cost_used))));
      expect(orgUsed).toBe(sum(settled.map((s) => s.cost)));
      // Some level was pressed near its limit (its settled spend, overruns
      // included, as the check sees it: within one hold, $0.045, of it).
      expect(
        levels.some(({ limit, seen }) => seen.cost >= limit - 45_000),
        summary,
      ).toBe(true);
    }

    for (const n of perProcess) expect(n).toBeGreaterThan(0);
    expect(above, summary).toBeGreaterThan(0);
    expect(below, summary).toBeGreaterThan(0);
    // The limits were really reached: pools denied on their cost, and every client stopped denied.
    expect(stoppedDenied, summary).toBe(CLIENTS);
    expect(
      Object.keys(denials).some((k) => k.startsWith('BUDGET_EXCEEDED:pool:')),
      summary,
    ).toBe(true);
    expect(
      Object.keys(denials).every(
        (k) => k.startsWith('BUDGET_EXCEEDED:') || k === 'RATE_LIMITED:requests_per_minute:team-b',
      ),
      summary,
    ).toBe(true);
    // team-b's requests a minute: at most the burst and one per interval since the start.
    expect(denials['RATE_LIMITED:requests_per_minute:team-b'] ?? 0, summary).toBeGreaterThan(0);
    expect(allowedByTeam[1], summary).toBeLessThanOrEqual(
      TEAM_B_RPM + Math.ceil(elapsedMs / (60_000 / TEAM_B_RPM)) + 1,
    );

    // The processes are still up and said nothing alarming.
    for (const api of apis) {
      expect(api.proc.exitCode).toBeNull();
      expect(api.output()).not.toMatch(/tollgate api: /);
    }
  });
});
