/**
 * Three API processes (`tollgate serve`, from source) on one Redis, 50 SDK
 * clients spread over them, all spending one agent's budget at once: no
 * process may let the agent spend past a limit, and the books must balance.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TollgateApiError, TollgateClient } from '../../src/client/index.js';
import { uid } from '../support/engines.js';
import { spawnServe, stopProcess } from '../support/serve-process.js';

const ADMIN = 'mp-admin-token-0123456789abcdefg'; // 32 characters
const PROCESSES = 3;
const CLIENTS = 50;
const SESSION_LIMIT = 200_000;
/**
 * At the default prices ($3 / $15 per million input / output tokens) the
 * random usage below costs about $9 per million tokens, so $1.8 is near what
 * the session's 200 000 tokens cost: either limit may be the one that stops
 * the agent, and both are checked. ($3 could never be reached: even a hold,
 * priced at $15 per million, fits the session limit first.)
 */
const DAILY_LIMIT_USD = 1.8;
/** Each client stops after this many authorizes or this long, whichever comes first. */
const ROUNDS_PER_CLIENT = 40;
const LOAD_MS = 12_000;
const OPERATIONS = ['read_file', 'write_file', 'run_tests'] as const;

interface Api {
  url: string;
  proc: ChildProcess;
  output: () => string;
}

const children: ChildProcess[] = [];
const dataDirs: string[] = [];

/** Starts `tollgate serve --port 0` on the run's Redis and reads the banner for its URL. */
async function startServe(): Promise<Api> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tg-mp-'));
  dataDirs.push(dataDir);
  const { proc, output } = await spawnServe(
    {
      REDIS_URL: inject('redisUrl'),
      REDIS_CLUSTER_NODES: '',
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
  // The configuration is the JSON object that starts on a line of its own.
  const json = /^\{[\s\S]*?^\}/m.exec(out)?.[0] ?? '{}';
  const config = JSON.parse(json) as { mode?: string };
  expect(config.mode).toBe('redis');
  return { url, proc, output };
}

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

let apis: Api[] = [];

beforeAll(async () => {
  apis = await Promise.all(Array.from({ length: PROCESSES }, () => startServe()));
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map(stopProcess));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('three API processes on one Redis', () => {
  it('50 clients over 3 processes never spend past the limits, and the books balance', {
    timeout: 30_000,
  }, async () => {
    expect(new Set(apis.map((a) => a.url)).size).toBe(PROCESSES);
    const agentId = uid('mp');
    // Register on one process, set the limits on another.
    const reg = await new TollgateClient({
      baseUrl: apis[0]?.url ?? '',
      token: ADMIN,
    }).registerAgent({ agent_id: agentId, role: 'coder' });
    const limits = await new TollgateClient({
      baseUrl: apis[1]?.url ?? '',
      token: ADMIN,
    }).setLimits(agentId, {
      session_token_limit: SESSION_LIMIT,
      daily_cost_limit: DAILY_LIMIT_USD,
    });
    expect(limits.session.tokens_limit).toBe(SESSION_LIMIT);
    expect(limits.daily.cost_limit).toBe(DAILY_LIMIT_USD);
    const day = limits.daily.date;

    const errors: string[] = [];
    let settledTokens = 0;
    let settledMicros = 0;
    let allowed = 0;
    let released = 0;
    let alreadyClosed = 0;
    const denials: Record<string, number> = {};
    const perProcess = new Array<number>(PROCESSES).fill(0);
    const stopAt = Date.now() + LOAD_MS;

    const worker = async (i: number) => {
      const p = i % PROCESSES;
      // Half the clients use the agent's own key, half the admin token; one
      // attempt per request, so a 5xx surfaces here instead of being retried away.
      const client = new TollgateClient({
        baseUrl: apis[p]?.url ?? '',
        token: i % 2 === 0 ? reg.api_key : ADMIN,
        retries: 1,
      });
      for (let round = 0; round < ROUNDS_PER_CLIENT && Date.now() < stopAt; round++) {
        try {
          const estimate = rand(200, 6_000);
          const d = await client.authorize({
            agent_id: agentId,
            operation: OPERATIONS[rand(0, OPERATIONS.length - 1)] ?? 'read_file',
            estimated_tokens: estimate,
          });
          perProcess[p] = (perProcess[p] ?? 0) + 1;
          if (!d.allowed) {
            const kind = `${d.error_code}${d.exceeded ? `:${d.exceeded}` : ''}`;
            denials[kind] = (denials[kind] ?? 0) + 1;
            continue;
          }
          allowed++;
          if (rand(1, 10) === 1) {
            await client.release(d.reservation_id);
            released++;
            continue;
          }
          const used = rand(0, estimate);
          const input = rand(0, used);
          const s = await client.settle({
            reservation_id: d.reservation_id,
            input_tokens: input,
            output_tokens: used - input,
            result: 'success',
          });
          if (s.outcome !== undefined && s.outcome !== 'settled') {
            alreadyClosed++;
            continue;
          }
          settledTokens += used;
          settledMicros += Math.round((s.cost ?? Number.NaN) * 1_000_000);
        } catch (e) {
          errors.push(
            e instanceof TollgateApiError
              ? `${e.status} ${e.code}: ${e.message}`
              : `${(e as Error).name}: ${(e as Error).message}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));

    const summary = {
      allowed,
      released,
      alreadyClosed,
      denials,
      perProcess,
      settledTokens,
      settledMicros,
    };
    expect(errors, JSON.stringify({ errors: errors.slice(0, 5), summary })).toEqual([]);
    expect(alreadyClosed).toBe(0);
    expect(Number.isNaN(settledMicros)).toBe(false);
    // The limits hold, across processes.
    expect(settledTokens).toBeLessThanOrEqual(SESSION_LIMIT);
    // The limit was really hit: many denials, all of them budget denials.
    const denied = Object.values(denials).reduce((a, b) => a + b, 0);
    expect(denied, JSON.stringify(summary)).toBeGreaterThanOrEqual(100);
    expect(
      Object.keys(denials).every((k) => k.startsWith('BUDGET_EXCEEDED')),
      JSON.stringify(denials),
    ).toBe(true);
    expect(allowed).toBeGreaterThan(20);
    expect(
      settledTokens >= 0.9 * SESSION_LIMIT || settledMicros >= 0.9 * DAILY_LIMIT_USD * 1_000_000,
      JSON.stringify(summary),
    ).toBe(true);
    for (const n of perProcess) expect(n).toBeGreaterThan(0);
    // The books balance, read through a third process: usage is what the
    // settles reported, and nothing is left held.
    const status = await new TollgateClient({
      baseUrl: apis[2]?.url ?? '',
      token: ADMIN,
    }).getBudgetStatus(agentId);
    expect(status.session.tokens_used).toBe(settledTokens);
    expect(status.session.tokens_reserved).toBe(0);
    expect(status.daily.cost_reserved).toBe(0);
    // (Cost goes to the day of the settle: skip the daily sums if the run crossed midnight UTC.)
    if (status.daily.date === day) {
      expect(settledMicros).toBeLessThanOrEqual(DAILY_LIMIT_USD * 1_000_000);
      expect(Math.round(status.daily.cost_used * 1_000_000)).toBe(settledMicros);
    }
    expect(status.operations_blocked).toBe(denied);
    // The processes are still up and said nothing alarming.
    for (const api of apis) {
      expect(api.proc.exitCode).toBeNull();
      expect(api.output()).not.toMatch(/tollgate api: /);
    }
  });
});
