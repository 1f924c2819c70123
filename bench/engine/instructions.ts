/**
 * Redis-side cost of authorize in CPU instructions, not seconds (optional;
 * not part of bench:engine):
 *
 *   npx tsx bench/engine/instructions.ts
 *
 * This machine's speed drifts 1.3–3× between runs, so timings cannot tell a
 * 10% change in a script apart from noise. Instructions can: a private
 * redis-server runs under `valgrind --tool=callgrind`, and for each batch size
 * the counters are zeroed, N `authorizeBatch-1` calls (all decisions allowed,
 * agents of one shard, as RedisEngine sends them) are made, and the
 * instructions redis-server executed (everything: reading the command, the
 * script, the XADD, writing the reply) are divided by the decisions. The same
 * script, inputs and batch size give the same count on every run. The last
 * row measures agents that hold 64 to 128 open holds each, as bench:engine's
 * authorize-only rounds leave them. The last line measures the bound on
 * freeing expired holds: one getStatus call that frees 2,048 of them (the
 * default maxFreePerCall), in instructions per hold freed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { agentKeys, outboxKey } from '../../src/engine/keys.js';
import { loadScript, RedisEngine, splitReplies } from '../../src/engine/redis/index.js';
import type { Scalar } from '../../src/engine/redis/scripts.js';
import { freePorts } from '../../test/setup/redis-servers.js';
import { textTable } from '../lib/table.js';

const BATCHES = [1, 16, 32, 128];
const DECISIONS = 1_600;
const SHARDS = 16;
/**
 * Agents of one shard, used in turn: enough that each holds few open holds
 * (holds are fields of the agent hash; a workload that settles keeps few).
 */
const AGENTS = 400;
/** Agents of the last row: 1,600 decisions before measuring leave each with 64 open holds. */
const BUSY_AGENTS = 25;

function totalInstructions(pid: number, dir: string): number {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const dumps = readdirSync(dir)
    .filter((f) => f.startsWith('cg.out.'))
    .map((f) => join(dir, f))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const last = dumps.at(-1);
  if (!last) throw new Error('callgrind wrote no dump');
  const text = execFileSync('callgrind_annotate', [last], { encoding: 'utf8' });
  const m = /([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(text);
  if (!m?.[1]) throw new Error('no PROGRAM TOTALS in callgrind_annotate output');
  return Number(m[1].replace(/,/g, ''));
}

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

/** Holds freed by the measured getStatus call: the default maxFreePerCall. */
const FREED = 2_048;

/** Instructions per hold freed when one getStatus call frees FREED expired holds of one agent. */
async function measureFreeing(
  admin: Redis,
  engine: RedisEngine,
  pid: number,
  dir: string,
): Promise<number> {
  const agentId = 'cg-expired';
  await engine.registerAgent({
    agentId,
    role: 'coder',
    sessionTokenLimit: 1e12,
    dailyLimitMicros: 1e12,
    keyDigest: 'a'.repeat(64),
    metadata: '{}',
    actor: 'admin',
  });
  const rates = { model: 'm', inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 };
  for (let i = 0; i < FREED; i += 256) {
    await Promise.all(
      Array.from({ length: 256 }, () =>
        engine.authorize({
          agentId,
          operation: 'read_file',
          estimatedTokens: 1,
          rates,
          leaseMs: 1_000,
          allowedRoles: ['coder'],
          actor: 'library',
        }),
      ),
    );
  }
  const k = agentKeys(agentId, SHARDS);
  const sha = String(await admin.script('LOAD', loadScript('getStatus-3')));
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  await admin.evalsha(
    sha,
    3,
    k.agent,
    k.leases,
    k.outbox,
    60_000,
    agentId,
    '-7abc-8def-0123456789ab',
    FREED,
  );
  const total = totalInstructions(pid, dir);
  const left = await admin.zcount(k.leases, 0, '(+inf');
  if (left !== 0) throw new Error(`${left} holds were not freed`);
  return total / FREED;
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
  const stop = () => {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    const url = `redis://127.0.0.1:${port}`;
    await waitForPort(port as number);
    const admin = new Redis(url);
    const engine = new RedisEngine({ client: new Redis(url), ownsClient: true });
    for (let s = 0; s < SHARDS; s++) await engine.recoverShard(s);
    // Agents of shard 0 only: a batch holds one shard's decisions.
    const shardZero = async (prefix: string, n: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; ids.length < n; i++) {
        const id = `${prefix}-${i}`;
        if (agentKeys(id, SHARDS).shard === 0) ids.push(id);
      }
      await Promise.all(
        ids.map((agentId) =>
          engine.registerAgent({
            agentId,
            role: 'coder',
            sessionTokenLimit: 1e12,
            dailyLimitMicros: 1e12,
            keyDigest: 'a'.repeat(64),
            metadata: '{}',
            actor: 'admin',
          }),
        ),
      );
      return ids;
    };
    const sha = String(await admin.script('LOAD', loadScript('authorizeBatch-1')));
    const outbox = outboxKey(0);
    const profile = ['read_file', 'm', 3_000_000, 15_000_000, 300_000, 'library', '|coder|'];
    let seq = 0;
    const rows: string[][] = [];
    /** `calls` calls of `batch` decisions over `ids` in turn, first `prefill` unmeasured ones. */
    const measureBatch = async (ids: string[], batch: number, prefill: number) => {
      const calls = Math.ceil(DECISIONS / batch);
      const make = () => {
        const args: (string | number)[] = [0, '-7abc-8def-0123456789ab', 8, 1, ...profile];
        for (let k = 0; k < batch; k++) {
          const nonce = (++seq).toString(16).padStart(16, '0');
          args.push(ids[seq % ids.length] as string, 1, 1_000, nonce, '', '');
        }
        return args;
      };
      const check = (await admin.evalsha(sha, 1, outbox, ...make())) as unknown[];
      const decided = splitReplies(check as Scalar[]) ?? [];
      if (decided.length !== batch || !decided.every((d) => d[0] === 0)) {
        throw new Error(`not every decision was allowed: ${JSON.stringify(check[0])}`);
      }
      for (let c = 0; c < prefill / batch; c++) await admin.evalsha(sha, 1, outbox, ...make());
      const holdsBefore = (await admin.hlen(agentKeys(ids[0] as string, SHARDS).agent)) - 3;
      await admin.del(outbox);
      execFileSync('callgrind_control', ['-z', String(server.pid)], { stdio: 'ignore' });
      const p = admin.pipeline();
      for (let c = 0; c < calls; c++) p.evalsha(sha, 1, outbox, ...make());
      const res = await p.exec();
      const failed = res?.find(([e]) => e);
      if (failed) throw failed[0];
      const total = totalInstructions(server.pid as number, dir);
      const perDecision = total / (calls * batch);
      const holdsAfter = (await admin.hlen(agentKeys(ids[0] as string, SHARDS).agent)) - 3;
      const holds = `${holdsBefore}–${holdsAfter}`;
      rows.push([String(batch), String(calls), holds, `${Math.round(perDecision / 1000)}k`]);
      console.log(
        `batch ${batch}, ${holds} open holds per agent: ${Math.round(perDecision / 1000)}k instructions per decision`,
      );
      await admin.del(outbox);
    };
    const few = await shardZero('cg', AGENTS);
    for (const batch of BATCHES) await measureBatch(few, batch, 0);
    // As bench:engine's authorize-only rounds leave them: agents with dozens of open holds.
    await measureBatch(await shardZero('cg-busy', BUSY_AGENTS), 32, DECISIONS);
    const freeing = await measureFreeing(admin, engine, server.pid as number, dir);
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
      `\none getStatus call freeing ${FREED} expired holds: ${Math.round(freeing / 1000)}k instructions per hold freed (${Math.round((freeing * FREED) / 1e6)}M in the call)`,
    );
    admin.disconnect();
    await engine.close();
  } finally {
    stop();
  }
}

await main();
