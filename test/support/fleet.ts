/**
 * A fleet of agents with varied, known budgets for the dashboard's browser
 * test, its screenshot and bench/dashboard: spend spread over today's elapsed
 * hours (the engine's test clock is shifted back, hour by hour, never before
 * today's UTC midnight), holds in flight on some, denials on the reviewers,
 * some suspended, and the agents named in `blocked` pushed past their daily
 * limit (status BLOCKED). No vitest import: bench/ uses it too.
 */
import type { Tollgate } from '../../src/index.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
export const FLEET_ROLES = ['coder', 'tester', 'reviewer', 'backend-dev'] as const;

export interface FleetOptions {
  /** How many agents. */
  agents: number;
  /** Agent ids are `<prefix><index, zero-padded>`. Default `agent-`. */
  prefix?: string;
  /** Indexes to suspend (after their usage). Default: every 9th from 4. */
  suspended?: (i: number) => boolean;
  /** Indexes to push past the daily limit. Default: [2]. */
  blocked?: readonly number[];
  /** Operations per agent, at most (spread over the hours). Default 4. */
  maxOps?: number;
  /** Agents worked on at once. Default 50. */
  concurrency?: number;
  /**
   * Clock offset (ms, <= 0) for what is done "now": the last hour's operations,
   * the holds, denials and suspensions. The browser test passes -90 s so that
   * no seeded decision is in the dashboard's last-minute count. Default 0.
   */
  nowOffsetMs?: number;
}

export interface FleetAgent {
  id: string;
  role: string;
  suspended: boolean;
  blocked: boolean;
}

/** Runs fn over items, `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Seeds the fleet through the library (tg.identity, tg.guard), so every
 * event reaches the outbox (and, drained, the store) as it would in service.
 * Leaves the engine's clock offset at 0.
 */
export async function seedFleet(tg: Tollgate, opts: FleetOptions): Promise<FleetAgent[]> {
  const prefix = opts.prefix ?? 'agent-';
  const width = String(Math.max(1, opts.agents - 1)).length;
  const isSuspended = opts.suspended ?? ((i: number) => i % 9 === 4);
  const blocked = new Set(opts.blocked ?? [2]);
  const maxOps = opts.maxOps ?? 4;
  const concurrency = opts.concurrency ?? 50;
  const now = Date.now();
  // Whole hours elapsed today (UTC): operations go 0..elapsed hours back.
  const sinceMidnight = now - Math.floor(now / DAY_MS) * DAY_MS;
  const elapsed = Math.floor(sinceMidnight / HOUR_MS);
  // Never before today's midnight: the day's spend must stay today's.
  const nowOffset = -Math.min(-(opts.nowOffsetMs ?? 0), Math.max(0, sinceMidnight - 1000));
  const shift = (hoursAgo: number) =>
    tg.engine.setClockOffsetForTests(hoursAgo === 0 ? nowOffset : -hoursAgo * HOUR_MS);

  const fleet = Array.from({ length: opts.agents }, (_, i) => {
    const role = FLEET_ROLES[i % FLEET_ROLES.length] as string;
    const sessionLimit = 40_000 + (i % 5) * 20_000;
    // Session tokens used: 5-84 % of the limit; daily cost: 5-89 % of the limit.
    const tokens = Math.round((sessionLimit * (((i * 53) % 80) + 5)) / 100);
    const ops = 1 + ((i * 7) % maxOps);
    const perOp = Math.max(1, Math.floor(tokens / ops));
    const input = Math.floor(perOp * 0.4);
    const output = perOp - input;
    // $3 in, $15 out per million tokens (the default model).
    const cost = (ops * (input * 3 + output * 15)) / 1_000_000;
    const dailyLimit = Math.max(
      0.01,
      Math.ceil((cost * 100) / ((((i * 37) % 85) + 5) / 100)) / 100,
    );
    return {
      i,
      id: `${prefix}${String(i).padStart(width, '0')}`,
      role,
      sessionLimit,
      dailyLimit,
      cost,
      ops,
      input,
      output,
    };
  });

  try {
    shift(elapsed);
    await pool(fleet, concurrency, async (a) => {
      // A roomy daily limit while the usage is recorded (holds are priced at
      // the highest rate); the real one is set at the end.
      await tg.identity.registerAgent(
        a.id,
        a.role,
        { team: ['payments', 'search', 'infra'][a.i % 3] },
        { sessionTokenLimit: a.sessionLimit, dailyCostLimit: 1000 },
      );
    });
    // Operations, oldest hour first: op k of agent i runs (i + 5k) mod (elapsed + 1) hours ago.
    for (let hoursAgo = elapsed; hoursAgo >= 0; hoursAgo--) {
      shift(hoursAgo);
      const work: { a: (typeof fleet)[number]; k: number }[] = [];
      for (const a of fleet) {
        for (let k = 0; k < a.ops; k++) {
          if ((a.i + 5 * k) % (elapsed + 1) === hoursAgo) work.push({ a, k });
        }
      }
      await pool(work, concurrency, async ({ a, k }) => {
        const op = k % 2 === 0 || a.role === 'reviewer' ? 'read_file' : 'run_tests';
        const d = await tg.guard.checkPermission(a.id, op, {
          estimatedTokens: a.input + a.output,
        });
        if (!d.allowed) return;
        await tg.guard.recordOperation(
          a.id,
          op,
          { inputTokens: a.input, outputTokens: a.output },
          'success',
          d.reservation_id,
        );
      });
    }
    await pool(fleet, concurrency, async (a) => {
      await tg.budget.setLimits(a.id, { dailyCostLimit: a.dailyLimit });
      // Reviewers may only read: a write is denied (RBAC_DENIED), counted as blocked.
      if (a.role === 'reviewer') {
        for (let k = 0; k <= a.i % 3; k++) await tg.guard.checkPermission(a.id, 'write_file');
      }
      if (blocked.has(a.i)) {
        // Usage with nothing held is never refused: past the daily limit, then a denial.
        const micros = Math.ceil(a.dailyLimit * 1_000_000 * 1.1);
        await tg.guard.recordOperation(a.id, 'run_tests', {
          inputTokens: 0,
          outputTokens: Math.ceil(micros / 15),
        });
        await tg.guard.checkPermission(a.id, 'read_file', { estimatedTokens: 1000 });
      } else if (a.i % 3 === 1) {
        // A hold in flight: reserved, apart from used (read_file: every role may),
        // within what is left of the day (a hold is priced at $15 per million).
        const left = a.dailyLimit - a.cost;
        const estimatedTokens = Math.min(
          Math.round(a.sessionLimit * 0.1),
          Math.floor((left * 0.8 * 1_000_000) / 15),
        );
        if (estimatedTokens > 0) {
          await tg.guard.checkPermission(a.id, 'read_file', { estimatedTokens });
        }
      }
      if (isSuspended(a.i)) await tg.identity.suspendAgent(a.id);
    });
  } finally {
    tg.engine.setClockOffsetForTests(0);
  }
  return fleet.map((a) => ({
    id: a.id,
    role: a.role,
    suspended: isSuspended(a.i),
    blocked: blocked.has(a.i) && !isSuspended(a.i),
  }));
}
