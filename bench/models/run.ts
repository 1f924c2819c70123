/**
 * npm run bench:models — what metering adds to a model call (docs/models.md).
 * The real `openai` SDK calls a stand-in upstream on loopback
 * (test/support/model-upstream.ts), in a process of its own as a provider is:
 * directly, through `tg.fetch` embedded (MemoryEngine) and on a private Redis
 * (the fetch runs in the SDK's process, as the library does), and through the
 * gateway (`tollgate serve` on that Redis, in a process of its own as it is
 * deployed, the SDK pointed at `/openai/v1`; bench/models/processes.ts). Per
 * call, one after another, in alternating rounds: non-streaming (the whole
 * call) and streaming (time to the first chunk the SDK yields); p50 and p99,
 * and the p50 added over the direct call of the same round. Then counting a
 * 4,000-token prompt (new text, the memo, the byte bound). Writes
 * `## bench/models` in docs/BENCHMARKS.md.
 *
 * BENCH_MODELS_CALLS (per path, mode and round; default 400), BENCH_MODELS_ROUNDS (default 3),
 * BENCH_MODELS_WARMUP (calls per path and mode before the rounds; default 1,000).
 */
import { createTollgate, type Tollgate } from '../../src/index.js';
import { createTokenCounter, loadO200k } from '../../src/models/index.js';
import { openaiClient } from '../../test/support/model-clients.js';
import { envNumber } from '../lib/env.js';
import { fullGc } from '../lib/gc.js';
import { type Floor, runBench, type Table } from '../lib/harness.js';
import { privateRedis } from '../lib/services.js';
import { LatencyRecorder, median } from '../lib/stats.js';
import { fmt } from '../lib/table.js';
import { serveProcess, standInProcess } from './processes.js';
import { promptsOf } from './prompt.js';

const CALLS = Math.round(envNumber('BENCH_MODELS_CALLS', 400));
const ROUNDS = Math.round(envNumber('BENCH_MODELS_ROUNDS', 3));
/**
 * Calls per path and mode before the rounds: a path's added time falls for its
 * first ~2,000 calls (V8 optimizing the call's code, the keep-alive sockets,
 * Redis warming) and is flat after; a server runs in that flat part.
 */
const WARMUP = Math.round(envNumber('BENCH_MODELS_WARMUP', 1_000));
const TOKEN = 'bench-models-admin-token';
const MODEL = 'gpt-4o-mini';
const POLICY = {
  roles: {
    bench: {
      session_token_limit: 1_000_000_000,
      daily_cost_limit: 1_000_000,
      permissions: ['model_call'],
    },
  },
};
const MESSAGES = [
  { role: 'system' as const, content: 'You are a terse assistant.' },
  { role: 'user' as const, content: 'Say hello.' },
];

type Call = () => Promise<void>;
type Mode = 'json' | 'stream';

interface Path {
  name: string;
  json: Call;
  stream: Call;
}

function pathOf(
  name: string,
  baseURL: string,
  apiKey: string,
  fetch?: typeof globalThis.fetch,
): Path {
  const client = openaiClient(baseURL, { apiKey, maxRetries: 0, ...(fetch ? { fetch } : {}) });
  return {
    name,
    json: async () => {
      await client.chat.completions.create({ model: MODEL, messages: MESSAGES, max_tokens: 64 });
    },
    // Time to the first chunk: the rest of the stream is read after the clock stops.
    stream: async () => {
      const s = await client.chat.completions.create({
        model: MODEL,
        messages: MESSAGES,
        max_tokens: 64,
        stream: true,
      });
      const it = s[Symbol.asyncIterator]();
      await it.next();
      firstChunkAt = performance.now();
      while (!(await it.next()).done) {
        // drain
      }
    },
  };
}

let firstChunkAt = 0;

async function measure(call: Call, mode: Mode, rec: LatencyRecorder, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    rec.add((mode === 'stream' ? firstChunkAt : performance.now()) - t0);
  }
}

async function agentOf(tg: Tollgate, id: string): Promise<string> {
  const a = await tg.identity.registerAgent(id, 'bench');
  return a.api_key;
}

runBench('bench/models', async (ctx) => {
  const upstream = await standInProcess(ctx, {
    usage: { inputTokens: 30, outputTokens: 12, cacheReadTokens: 0 },
    chunks: 4,
  });

  const embedded = await createTollgate({ policy: POLICY });
  ctx.onStop(() => embedded.close());
  await agentOf(embedded, 'bench-embedded');

  const redis = await privateRedis(ctx);
  const onRedis = await createTollgate({ redis: redis.url, policy: POLICY });
  ctx.onStop(() => onRedis.close());
  await agentOf(onRedis, 'bench-redis');
  const gatewayKey = await agentOf(onRedis, 'bench-gateway');
  // The gateway as it is deployed: `tollgate serve` on the same Redis and policy.
  const gatewayPort = await serveProcess(ctx, POLICY, {
    REDIS_URL: redis.url,
    TOLLGATE_ADMIN_TOKEN: TOKEN,
    TOLLGATE_OPENAI_BASE_URL: upstream.openaiBaseURL,
    TOLLGATE_OPENAI_API_KEY: 'sk-upstream',
  });

  const paths: Path[] = [
    pathOf('direct', upstream.openaiBaseURL, 'sk-direct'),
    pathOf(
      'tg.fetch, embedded',
      upstream.openaiBaseURL,
      'sk-direct',
      embedded.fetch({ agentId: 'bench-embedded' }),
    ),
    pathOf(
      'tg.fetch, Redis',
      upstream.openaiBaseURL,
      'sk-direct',
      onRedis.fetch({ agentId: 'bench-redis' }),
    ),
    pathOf('gateway, Redis', `http://127.0.0.1:${gatewayPort}/openai/v1`, gatewayKey),
  ];
  const modes: Mode[] = ['json', 'stream'];
  const recs = new Map<string, LatencyRecorder>();
  const p50s = new Map<string, number[]>();
  const key = (p: Path, m: Mode) => `${p.name}|${m}`;
  for (const p of paths)
    for (const m of modes) await measure(p[m], m, new LatencyRecorder(), WARMUP);

  for (let round = 0; round < ROUNDS; round++) {
    for (const m of modes) {
      // Alternate the order each round, so that no path always runs first.
      const order = round % 2 === 0 ? paths : [...paths].reverse();
      for (const p of order) {
        await upstream.reset();
        fullGc();
        const rec = new LatencyRecorder();
        await measure(p[m], m, rec, CALLS);
        const all = recs.get(key(p, m)) ?? new LatencyRecorder();
        recs.set(key(p, m), all);
        const s = rec.summary();
        (p50s.get(key(p, m)) ?? p50s.set(key(p, m), []).get(key(p, m)))?.push(s.p50);
        // Keep every sample for the p99.
        await measure(async () => {}, m, all, 0);
      }
    }
    ctx.log(`round ${round + 1}/${ROUNDS} done`);
  }
  // Re-run once more into the aggregate recorders for p99 (all samples of a last round).
  for (const m of modes) {
    for (const p of paths) {
      await upstream.reset();
      fullGc();
      await measure(p[m], m, recs.get(key(p, m)) as LatencyRecorder, CALLS);
    }
  }

  const rows: string[][] = [];
  const added = new Map<string, number>();
  for (const m of modes) {
    const direct = p50s.get(key(paths[0] as Path, m)) as number[];
    for (const p of paths) {
      const mine = p50s.get(key(p, m)) as number[];
      // The median over rounds of (this path's p50 − the direct p50 of the same round).
      const add = median(mine.map((v, i) => v - (direct[i] as number)));
      added.set(key(p, m), add);
      const s = (recs.get(key(p, m)) as LatencyRecorder).summary();
      rows.push([
        m === 'json' ? 'non-streaming (whole call)' : 'streaming (first chunk)',
        p.name,
        fmt(median(mine), 2),
        fmt(s.p99, 2),
        p.name === 'direct' ? '—' : fmt(add, 2),
      ]);
    }
  }
  const table: Table = {
    columns: [
      { title: 'call' },
      { title: 'path' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p99 ms', align: 'right' },
      { title: 'p50 added ms', align: 'right' },
    ],
    rows,
  };

  // Counting a 4,000-token prompt: each distinct prompt on a fresh memo (after the tokenizer
  // has seen the corpus, and the counting code has run as often as it is measured, as in a
  // running process: the first pass measured up to 1.5× the next), then again from the memo.
  const o200k = await loadO200k();
  const prompts = promptsOf(o200k, 4000);
  const prompt = prompts[0] as (typeof prompts)[number];
  const timeIt = (fn: (i: number) => void, n: number) => {
    const rec = new LatencyRecorder();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      fn(i);
      rec.add(performance.now() - t0);
    }
    return rec.summary().p50;
  };
  const countNew = (i: number) => {
    const p = prompts[i % prompts.length] as (typeof prompts)[number];
    createTokenCounter({ o200k }).count(p.texts, 'o200k');
  };
  timeIt(countNew, 5 * prompts.length);
  const miss = timeIt(countNew, 5 * prompts.length);
  const warm = createTokenCounter({ o200k });
  warm.count(prompt.texts, 'o200k');
  const hit = timeIt(() => warm.count(prompt.texts, 'o200k'), 500);
  const bytes = timeIt(() => warm.count(prompt.texts, 'bytes'), 500);
  const counting: Table = {
    columns: [
      { title: `counting ~${prompt.tokens} o200k tokens (${prompts.length} distinct prompts)` },
      { title: 'p50 ms', align: 'right' },
    ],
    rows: [
      ['new text (memo miss: hash + o200k)', fmt(miss, 3)],
      ['history resent (memo hit)', fmt(hit, 3)],
      ['byte bound (Claude and unknown models)', fmt(bytes, 3)],
    ],
  };

  const a = (name: string, m: Mode) => added.get(`${name}|${m}`) as number;
  const floors: Floor[] = [
    {
      text: `fetch on Redis adds ${fmt(a('tg.fetch, Redis', 'json'), 2)} ms p50 (≤ 1 ms)`,
      pass: a('tg.fetch, Redis', 'json') <= 1,
    },
    {
      text: `gateway adds ${fmt(a('gateway, Redis', 'json'), 2)} ms p50 (≤ 2 ms)`,
      pass: a('gateway, Redis', 'json') <= 2,
    },
    {
      text: `first streamed chunk: fetch on Redis +${fmt(a('tg.fetch, Redis', 'stream'), 2)} ms, gateway +${fmt(a('gateway, Redis', 'stream'), 2)} ms (≤ 2 ms)`,
      pass: a('tg.fetch, Redis', 'stream') <= 2 && a('gateway, Redis', 'stream') <= 2,
    },
    {
      text: `counting a ${prompt.tokens}-token prompt, new text: ${fmt(miss, 2)} ms (≤ 0.5 ms)`,
      pass: miss <= 0.5,
    },
    { text: `counting it again, memo hit: ${fmt(hit, 3)} ms (≤ 0.5 ms)`, pass: hit <= 0.5 },
  ];
  ctx.publish({
    heading: '## bench/models',
    command: 'npm run bench:models',
    lastRun: ctx.lastRun([`openai SDK`, `${CALLS} calls × ${ROUNDS} rounds per path`]),
    blocks: [table, counting, floors],
  });
});
