/**
 * Redis-side cost of authorize in CPU instructions, not seconds (optional;
 * not part of bench:engine):
 *
 *   npx tsx bench/engine/instructions.ts
 *
 * This machine's speed drifts 1.3–3× between runs, so timings cannot tell a
 * 10% change in a script apart from noise. Instructions can: a private
 * redis-server runs under `valgrind --tool=callgrind`, and for each batch size
 * the counters are zeroed, N authorize script calls (all decisions allowed,
 * agents of one shard, as RedisEngine sends them) are made, and the
 * instructions redis-server executed (everything: reading the command, the
 * script, the XADD, writing the reply) are divided by the decisions. The same
 * script, inputs and batch size give the same count on every run. The calls
 * are not built here: one of each batch size is captured (MONITOR) from real
 * decisions through the library (bench/lib/evalsha.ts) and repeated with its
 * agents taken in turn and fresh nonces. The last row measures agents that
 * hold 64 to 128 open holds each, as bench:engine's authorize-only rounds
 * leave them. Then the settle (batch 32: a captured settle call repeated over
 * fresh holds, made beforehand and not measured), and with BENCH_POOLS=1 (the
 * default; 0 skips it, for a tree without pools) the same two for agents in one
 * pool and under a three-level pool hierarchy, with limits at every level
 * (bench/engine/pool-workload.ts). The last line measures the bound on freeing
 * expired holds: one status read that frees 2,048 of them (the default
 * maxFreePerCall), in instructions per hold freed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { agentKeys } from '../../src/engine/keys.js';
import type { RedisEngine } from '../../src/engine/redis/index.js';
import { freePorts } from '../../test/setup/redis-servers.js';
import {
  allowedDecisions,
  captureDecisions,
  captureScriptCall,
  type ScriptCall,
} from '../lib/evalsha.js';
import { textTable } from '../lib/table.js';
import { engineAuthorize, registerAgents, setupWorkload, type Workload } from '../lib/workload.js';
import { createHierarchy, POOL_LIMITS, registerPooled } from './pool-workload.js';

/** BENCH_QUICK=1: batches 1 and 32, the settle and pools rows only (a quick before/after). */
const QUICK = process.env.BENCH_QUICK === '1';
const BATCHES = QUICK ? [1, 32] : [1, 16, 32, 128];
const DECISIONS = 1_600;
const SHARDS = 16;
/**
 * Agents of one shard, used in turn: enough that each holds few open holds
 * (holds are fields of the agent hash; a workload that settles keeps few).
 */
const AGENTS = 400;
/** Agents of the last row: 1,600 decisions before measuring leave each with 64 open holds. */
const BUSY_AGENTS = 25;
/** Holds freed by the measured status read: the default maxFreePerCall. */
const FREED = 2_048;

function totalInstructions(pid: number, dir: string): number {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const dumps = readdirSync(dir)
    .filter((f) => f.startsWith('cg.out.'))
    .map((f) => join(dir, f))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const last = dumps.at(-1);
  if (!last) throw new Error('callgrind wrote no dump');
  const text = execFileSync('callgrind_annotate', [last], { encoding: 'utf8' });
  // BENCH_ANNOTATE=<dir>: keep each measurement's per-function counts (what changed, where).
  const keep = process.env.BENCH_ANNOTATE;
  if (keep) writeFileSync(join(keep, `annotate-${Date.now()}.txt`), text);
  const m = /([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(text);
  if (!m?.[1]) throw new Error('no PROGRAM TOTALS in callgrind_annotate output');
  return Number(m[1].replace(/,/g, ''));
}

/** Thousands with one decimal (a change of a few hundred instructions shows). */
const kilo = (n: number) => `${(n / 1000).toFixed(1)}k`;

const zeroCounters = (pid: number) =>
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });

/** valgrind starts redis-server slowly: wait until its port accepts. */
async function waitForPort(port: number): Promise<void> {
  for (let t = 0; t < 300; t++) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server under valgrind did not listen on :${port}`);
}

/** `n` agent ids of shard 0 (a call holds the decisions of one shard). */
function shardZero(prefix: string, n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) {
    const id = `${prefix}-${i}`;
    if (agentKeys(id, SHARDS).shard === 0) ids.push(id);
  }
  return ids;
}

/**
 * Calls like `call` (captured for the agents `captured`), each for the next
 * agents of `ids` in turn, with fresh nonces.
 */
function callMaker(call: ScriptCall, captured: string[], ids: string[]) {
  const names = new Set(captured);
  const at = call.keysAndArgs.flatMap((a, i) => (names.has(a) ? [i] : []));
  let seq = 0;
  return (): (string | number)[] => {
    const args = call.keysAndArgs.map((a) =>
      /^[0-9a-f]{16}$/.test(a) ? randomBytes(8).toString('hex') : a,
    );
    for (const i of at) args[i] = ids[seq++ % ids.length] as string;
    return [call.sha, call.numKeys, ...args];
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-callgrind-'));
  const [port] = await freePorts(1);
  const server = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'cg.out')}`,
      'redis-server',
      ...['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
    ],
    { stdio: 'ignore' },
  );
  const pid = server.pid as number;
  const stop = () => {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });
  let work: Workload | undefined;
  try {
    const url = `redis://127.0.0.1:${port}`;
    await waitForPort(port as number);
    const admin = new Redis(url);
    const few = shardZero('cg', AGENTS);
    const busy = shardZero('cg-busy', BUSY_AGENTS);
    // A client of its own, without the library's command timeout: valgrind slows Redis down.
    work = await setupWorkload({ redis: new Redis(url), shards: SHARDS }, few);
    await registerAgents(work.tollgate, busy);
    const rows: string[][] = [];
    /** Where the agents measured live: their home shard, or their pools' (BENCH_POOLS). */
    let liveOn: number | undefined;
    const holds = async (id: string) => (await admin.hlen(agentKeys(id, SHARDS, liveOn).agent)) - 3;
    /** `calls` calls of `batch` decisions over `ids` in turn, first `prefill` unmeasured ones. */
    const measureBatch = async (ids: string[], batch: number, prefill: number, label = '') => {
      // The first `batch` agents in turn (fewer agents than decisions: some twice in a call).
      const captured = Array.from({ length: batch }, (_, k) => ids[k % ids.length] as string);
      const call = await captureDecisions(admin, work as Workload, captured);
      const make = callMaker(call, captured, ids);
      const check = await admin.evalsha(...(make() as [string, number]));
      if (allowedDecisions(check) !== batch) {
        throw new Error(`not every decision was allowed: ${JSON.stringify(check).slice(0, 300)}`);
      }
      for (let c = 0; c < prefill / batch; c++)
        await admin.evalsha(...(make() as [string, number]));
      const holdsBefore = await holds(ids[0] as string);
      const outbox = call.keysAndArgs[0] as string;
      await admin.del(outbox);
      const calls = Math.ceil(DECISIONS / batch);
      zeroCounters(pid);
      const p = admin.pipeline();
      for (let c = 0; c < calls; c++) p.evalsha(...(make() as [string, number]));
      const res = await p.exec();
      const failed = res?.find(([e]) => e);
      if (failed) throw failed[0];
      const perDecision = totalInstructions(pid, dir) / (calls * batch);
      const span = `${holdsBefore}–${await holds(ids[0] as string)}`;
      rows.push([`${batch}${label}`, String(calls), span, `${kilo(perDecision)}`]);
      console.log(
        `batch ${batch}${label}, ${span} open holds per agent: ${kilo(perDecision)} instructions per decision`,
      );
      await admin.del(outbox);
    };
    /**
     * Settles, `batch` per call (as the settle batcher sends them): a settle
     * call captured from the library, repeated over fresh holds of `ids`, made
     * first by the captured authorize call (not measured).
     */
    const measureSettles = async (ids: string[], batch: number, label = '') => {
      const captured = ids.slice(0, batch);
      const decide = await captureDecisions(admin, work as Workload, captured);
      const w = work as Workload;
      // One settle first, so that the script is loaded and the calls seen are EVALSHA.
      await w.settle(captured[0] as string, await w.decide(captured[0] as string, 1));
      const open = await Promise.all(captured.map((a) => w.decide(a, 1)));
      const settle = await captureScriptCall(
        admin,
        () => Promise.all(captured.map((a, k) => w.settle(a, open[k] as string))),
        (ka) => captured.every((a) => ka.includes(a)) && ka.length >= 6 + 13 * batch,
      );
      const calls = Math.ceil(DECISIONS / batch);
      const settleCalls: (string | number)[][] = [];
      const p0 = admin.pipeline();
      for (let c = 0; c < calls; c++) {
        const agents = captured.map((_, k) => ids[(c * batch + k) % ids.length] as string);
        const nonces = agents.map(() => randomBytes(8).toString('hex'));
        let d = 0;
        const args = decide.keysAndArgs.map((a) =>
          /^[0-9a-f]{16}$/.test(a) ? (nonces[d++] as string) : a,
        );
        let at = 0;
        for (let i = 0; i < args.length; i++) {
          if (captured.includes(args[i] as string)) args[i] = agents[at++] as string;
        }
        p0.evalsha(decide.sha, decide.numKeys, ...args);
        const s2 = [...settle.keysAndArgs];
        for (let k = 0; k < batch; k++) {
          // keysAndArgs: the outbox, ARGV[1..5], then 13 per settle (lua/settle-1.lua).
          s2[6 + 13 * k] = agents[k] as string;
          s2[7 + 13 * k] = nonces[k] as string;
        }
        settleCalls.push([settle.sha, settle.numKeys, ...s2]);
      }
      const made = await p0.exec();
      const failedHold = made?.find(([e, r]) => e || allowedDecisions(r) !== batch);
      if (failedHold)
        throw new Error(`holds not made: ${JSON.stringify(failedHold).slice(0, 300)}`);
      const outbox = settle.keysAndArgs[0] as string;
      await admin.del(outbox);
      zeroCounters(pid);
      const p = admin.pipeline();
      for (const call of settleCalls) p.evalsha(...(call as [string, number]));
      const res = await p.exec();
      const failed = res?.find(([e, r]) => e || !Array.isArray(r) || r[0] !== 0);
      if (failed) throw new Error(`settle failed: ${JSON.stringify(failed).slice(0, 300)}`);
      const perSettle = totalInstructions(pid, dir) / (calls * batch);
      rows.push([`${batch} settles${label}`, String(calls), '', `${kilo(perSettle)}`]);
      console.log(`settle batch ${batch}${label}: ${kilo(perSettle)} instructions per settle`);
      await admin.del(outbox);
    };
    for (const batch of BATCHES) await measureBatch(few, batch, 0);
    // As bench:engine's authorize-only rounds leave them: agents with dozens of open holds.
    if (!QUICK) await measureBatch(busy, 32, DECISIONS);
    await measureSettles(few, 32);
    if (process.env.BENCH_POOLS !== '0') {
      // Agents in one pool (a root), then under org -> team -> pool, limits at every
      // level: they live on the root's shard.
      const engine = work.tollgate.engine;
      await engine.createPool({ poolId: 'cg-one', ...POOL_LIMITS, actor: 'admin' });
      const single = Array.from({ length: AGENTS }, (_, i) => `cg-single-${i}`);
      await registerPooled(engine, single, ['cg-one']);
      liveOn = agentKeys('cg-one', SHARDS).shard;
      await measureBatch(single, 32, 0, ', 1 pool');
      await measureSettles(single, 32, ', 1 pool');
      const leaves = await createHierarchy(engine, 'cg-org');
      const pooled = Array.from({ length: AGENTS }, (_, i) => `cg-pooled-${i}`);
      await registerPooled(engine, pooled, leaves);
      liveOn = agentKeys('cg-org', SHARDS).shard;
      await measureBatch(pooled, 32, 0, ', 3 levels');
      await measureSettles(pooled, 32, ', 3 levels');
      liveOn = undefined;
    }

    // The bound on freeing: FREED holds of one agent, their leases passed, freed by one status read.
    let freeing = Number.NaN;
    if (!QUICK) {
      const engine = work.tollgate.engine as RedisEngine;
      const expired = 'cg-expired';
      await registerAgents(work.tollgate, [expired]);
      for (let i = 0; i < FREED; i += 256) {
        await Promise.all(
          Array.from({ length: 256 }, () => engineAuthorize(engine, expired, 1_000)),
        );
      }
      await engine.status(few[0] as string); // the status script loaded: the measured read is EVALSHA
      engine.setClockOffsetForTests(60_000);
      zeroCounters(pid);
      await engine.status(expired);
      freeing = totalInstructions(pid, dir) / FREED;
      const left = await admin.zcount(agentKeys(expired, SHARDS).leases, 0, '(+inf');
      if (left !== 0) throw new Error(`${left} holds were not freed`);
    }
    console.log(
      `\n${textTable(
        [
          { title: 'decisions per call' },
          { title: 'calls', align: 'right' },
          { title: 'open holds per agent', align: 'right' },
          { title: 'redis-server instructions per decision', align: 'right' },
        ],
        rows,
      )}`,
    );
    console.log(
      `\none status read freeing ${FREED} expired holds: ${Math.round(freeing / 1000)}k instructions per hold freed (${Math.round((freeing * FREED) / 1e6)}M in the call)`,
    );
    admin.disconnect();
  } finally {
    await work?.tollgate.close();
    (work?.tollgate.engine as RedisEngine | undefined)?.redisClient.disconnect();
    stop();
  }
}

await main();
