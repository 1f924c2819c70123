/**
 * Where authorize's Redis time goes (optional; not part of bench:engine):
 *
 *   npx tsx bench/engine/breakdown.ts
 *
 * Runs lua/authorize-5 (allowed path) with redis-benchmark, cut short after
 * each step (`do return 1 end` inserted after the step's line), and prints
 * the time inside the script per call (INFO commandstats) step by step: the
 * differences are what each step costs on one Redis core. A step whose
 * anchor is no longer in the script is skipped.
 */
import { Redis } from 'ioredis';
import { startBenchRedis } from '../lib/redis.js';
import { fmt, fmtInt, textTable } from '../lib/table.js';
import { authorizeScript, captureScriptCall, expectAllowed, runCeiling } from './redis-ceiling.js';
import { setupTollgate } from './tollgate-ops.js';

/** [label, a text the step's last line starts with]; the cut goes after that line. */
const STEPS: [string, string][] = [
  ['EVALSHA, no work', 'local rcall = redis.call'],
  ['+ helper closures (includes)', 'local agentKey, leasesKey'],
  ['+ ARGV locals, TIME', 'local now = nowMs('],
  ['+ hold cost, fingerprint', 'local fingerprint = '],
  ['+ HMGET agent', 'local a = loadAgent('],
  ['+ lease clean-up check', 'local n = freeExpired('],
  ['+ day key, HGET day', 'local cUsed = dayCost('],
  ['+ checks, HSET agent counters', 'saveCounters(agentKey, a)\nrcall'],
  ['+ HSET reservation', "  'rin', inRate"],
  ['+ ZADD lease', "rcall('ZADD', leasesKey"],
  ['+ decision event, XADD', "decisionEvent(a, 1, ''"],
];

function cutAfter(script: string, anchor: string): string | undefined {
  // An anchor with a newline names the line before it (the cut goes after
  // its first line).
  const first = anchor.split('\n')[0] as string;
  const at = script.indexOf(anchor);
  if (at < 0) return undefined;
  const eol = script.indexOf('\n', at + first.length);
  if (eol < 0) return undefined;
  return `${script.slice(0, eol + 1)}do return 1 end\n${script.slice(eol + 1)}`;
}

async function main(): Promise<void> {
  const server = await startBenchRedis();
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    const ours = await setupTollgate({ redis: server.url });
    const full = authorizeScript();
    const agent = ours.agents[1] as string;
    const guard = ours.tollgate.guard;
    const warm = () => guard.checkPermission(agent, 'read_file', { estimatedTokens: 1 });
    await warm();
    const call = await captureScriptCall(admin, warm, (keysAndArgs) => keysAndArgs.includes(agent));
    const rows: string[][] = [];
    let previous = Number.NaN;
    const variants: [string, string | undefined][] = [
      ...STEPS.map(([label, anchor]): [string, string | undefined] => [
        label,
        cutAfter(full, anchor),
      ]),
      ['+ reply (full script)', full],
    ];
    for (const [label, text] of variants) {
      if (text === undefined) {
        rows.push([label, 'skipped (anchor not found)', '', '']);
        continue;
      }
      for (let s = 0; s < ours.tollgate.engine.shards; s++) {
        await admin.xtrim(`tg:{s${s}}:outbox`, 'MAXLEN', 0);
      }
      try {
        const r = await runCeiling(admin, server.port, {
          label,
          script: text,
          call,
          anySha: text !== full,
          check: text === full ? expectAllowed : undefined,
        });
        const step = r.scriptUsPerCall - previous;
        previous = r.scriptUsPerCall;
        rows.push([
          label,
          fmtInt(r.requestsPerSec),
          fmt(r.scriptUsPerCall, 2),
          Number.isFinite(step) ? `+${fmt(step, 2)}` : '',
        ]);
      } catch (err) {
        rows.push([label, `failed: ${(err as Error).message.split('\n')[0]}`, '', '']);
      }
    }
    await ours.tollgate.close();
    process.stdout.write(
      `${textTable(
        [
          { title: 'authorize-5 cut after' },
          { title: 'requests/s', align: 'right' },
          { title: 'in script µs/call', align: 'right' },
          { title: 'step µs', align: 'right' },
        ],
        rows,
      )}\n`,
    );
  } finally {
    admin.disconnect();
    await server.stop();
    server.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`breakdown failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
