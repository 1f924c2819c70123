/**
 * The load of the failover tests (test/engine/failover*.test.ts): workers
 * doing authorize + settle pairs on a set of agents, through the library or
 * the SDK, while the test kills a Cluster master. A caller-visible error is
 * recorded with its time and code; a STORE_UNAVAILABLE (the store is
 * refusing: the failover) is retried with the same ids, as the docs say
 * callers do (authorize: the same request id; settle: the same reservation
 * id), so that every hold ends settled and every settle is acknowledged once.
 */
import { randomUUID } from 'node:crypto';

export interface PairOps {
  /** An authorize with the caller's request id: a reservation id, or a denial's code. */
  authorize(
    agentId: string,
    requestId: string,
    estimatedTokens: number,
  ): Promise<{ reservationId: string } | { denied: string }>;
  /** The settle of `reservationId` (a hold of `agentId`) with this usage; its outcome. */
  settle(
    reservationId: string,
    agentId: string,
    inputTokens: number,
    outputTokens: number,
  ): Promise<string>;
  /** The error's code (a TollgateError's or TollgateApiError's `code`), for the tally. */
  codeOf(e: unknown): string;
}

export interface Failure {
  atMs: number;
  op: 'authorize' | 'settle';
  code: string;
  message: string;
}

export interface AckedSettle {
  agentId: string;
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  outcome: string;
  atMs: number;
}

export interface LoadResult {
  /** Every acknowledged settle, by reservation id (one entry each: retried until acknowledged). */
  acked: Map<string, AckedSettle>;
  /** Every error a caller saw (retried when STORE_UNAVAILABLE). */
  failures: Failure[];
  /** Errors other than STORE_UNAVAILABLE. */
  unexpected: Failure[];
  /** Authorize decisions that were denials, by code. */
  denials: Record<string, number>;
  /** Holds whose settle was never acknowledged (gave up): must be none. */
  unsettled: string[];
  pairs: number;
  /** The longest one operation took, retries included (ms), and when it ended. */
  longestOpMs: number;
  longestOpEndMs: number;
}

export interface LoadOptions {
  ops: PairOps;
  agents: readonly string[];
  workers: number;
  /** Workers start no new pair once this returns true (the pair in flight finishes). */
  done: () => boolean;
  /** How long one operation is retried on STORE_UNAVAILABLE before giving up. Default 60 s. */
  retryForMs?: number;
}

const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The first to the last failure's time (ms); 0 with fewer than two. */
export function refusalWindow(failures: readonly Failure[]): number {
  if (failures.length === 0) return 0;
  const times = failures.map((f) => f.atMs);
  return Math.max(...times) - Math.min(...times);
}

export async function runPairs(o: LoadOptions): Promise<LoadResult> {
  const r: LoadResult = {
    acked: new Map(),
    failures: [],
    unexpected: [],
    denials: {},
    unsettled: [],
    pairs: 0,
    longestOpMs: 0,
    longestOpEndMs: 0,
  };
  const retryFor = o.retryForMs ?? 60_000;

  /** `fn` until it answers; STORE_UNAVAILABLE retried (100 ms apart), anything else recorded and undefined. */
  const attempt = async <T>(op: Failure['op'], fn: () => Promise<T>): Promise<T | undefined> => {
    const t0 = Date.now();
    for (;;) {
      try {
        const v = await fn();
        const took = Date.now() - t0;
        if (took > r.longestOpMs) {
          r.longestOpMs = took;
          r.longestOpEndMs = Date.now();
        }
        return v;
      } catch (e) {
        const f = { atMs: Date.now(), op, code: o.ops.codeOf(e), message: (e as Error).message };
        r.failures.push(f);
        if (f.code !== 'STORE_UNAVAILABLE') {
          r.unexpected.push(f);
          return undefined;
        }
        if (Date.now() - t0 > retryFor) return undefined;
        await sleep(100);
      }
    }
  };

  const worker = async () => {
    while (!o.done()) {
      const agentId = o.agents[rand(0, o.agents.length - 1)] as string;
      const estimate = rand(100, 2_000);
      const requestId = `rq-${randomUUID()}`;
      const d = await attempt('authorize', () => o.ops.authorize(agentId, requestId, estimate));
      if (d === undefined) continue;
      if ('denied' in d) {
        r.denials[d.denied] = (r.denials[d.denied] ?? 0) + 1;
        continue;
      }
      const used = rand(0, estimate + 200); // sometimes above the hold
      const input = rand(0, used);
      const outcome = await attempt('settle', () =>
        o.ops.settle(d.reservationId, agentId, input, used - input),
      );
      if (outcome === undefined) {
        r.unsettled.push(d.reservationId);
        continue;
      }
      r.pairs++;
      r.acked.set(d.reservationId, {
        agentId,
        tokens: used,
        inputTokens: input,
        outputTokens: used - input,
        outcome,
        atMs: Date.now(),
      });
    }
  };
  await Promise.all(Array.from({ length: o.workers }, worker));
  return r;
}

/** A one-line summary of a run, for the test's output. */
export function describeLoad(name: string, r: LoadResult, extra = ''): string {
  const byCode: Record<string, number> = {};
  for (const f of r.failures) byCode[`${f.op}:${f.code}`] = (byCode[`${f.op}:${f.code}`] ?? 0) + 1;
  const window = r.failures.length > 0 ? `${refusalWindow(r.failures)} ms` : 'none (no error)';
  return (
    `${name}: ${r.pairs} pairs settled, ${r.failures.length} caller-visible errors ` +
    `${JSON.stringify(byCode)}, refusal window ${window}, longest operation ` +
    `${r.longestOpMs} ms${extra}`
  );
}
