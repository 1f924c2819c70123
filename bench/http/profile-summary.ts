/**
 * npx tsx bench/http/profile-summary.ts <file.cpuprofile>… — where a CPU
 * profile of the server (BENCH_HTTP_PROF, or node --cpu-prof) spent its time: self time by
 * package / area (express, zod, ioredis, node internals, Tollgate's own src
 * by directory, GC, idle) and the top functions by self time, in µs per
 * request when run.ts left the request count next to the profile.
 *
 * npx tsx bench/http/profile-summary.ts --diff <base.cpuprofile> <other.cpuprofile>
 * — µs per request by area in both, and what `other` costs on top of `base`
 * (e.g. redis-trivial vs redis-authorize: what a decision adds to the HTTP stack).
 */
import { existsSync, readFileSync } from 'node:fs';
import { type Column, fmt, fmtInt, textTable } from '../lib/table.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a frame belongs to: a package, a src/ directory, a node internal, or a V8 pseudo-frame. */
function areaOf(url: string, fn: string): string {
  if (url === '') {
    if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
    return `(native) ${fn}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = /\/src\/(.+)\/[^/]+$/.exec(url) ?? /\/src\/([^/]+)$/.exec(url);
  if (src) return `src/${src[1]}`;
  const bench = /\/(bench\/.+)$/.exec(url);
  if (bench) return bench[1] as string;
  return url;
}

interface Summary {
  file: string;
  totalUs: number;
  busyUs: number;
  requests: number;
  areas: Map<string, number>;
  fns: Map<string, number>;
}

function load(file: string): Summary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const area = areaOf(f.url, f.functionName);
    if (area === '(idle)') {
      idle += us;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const short = f.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/');
    const name = `${f.functionName || '(anonymous)'} ${short}:${f.lineNumber + 1}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
  }
  // run.ts writes the measured run's request count next to the profile.
  const side = file.replace(/\.cpuprofile$/, '.json');
  const requests = existsSync(side)
    ? Number((JSON.parse(readFileSync(side, 'utf8')) as { requests?: number }).requests)
    : Number.NaN;
  return { file, totalUs, busyUs: totalUs - idle, requests, areas, fns };
}

const cols = (title: string, extra: string[]): Column[] => [
  { title },
  ...extra.map((t): Column => ({ title: t, align: 'right' })),
];

function headline(s: Summary): string {
  return `${s.file}: ${(s.totalUs / 1e6).toFixed(1)} s sampled, ${(s.busyUs / 1e6).toFixed(1)} s busy (${((100 * s.busyUs) / s.totalUs).toFixed(0)}%), ${fmtInt(s.requests)} requests: ${fmt(s.busyUs / s.requests, 1)} µs busy per request`;
}

function summarize(s: Summary): string {
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => [
        k,
        (us / 1000).toFixed(0),
        `${((100 * us) / s.busyUs).toFixed(1)}%`,
        fmt(us / s.requests, 1),
      ]);
  const extra = ['ms', '% of busy', 'µs/req'];
  return [
    headline(s),
    '',
    textTable(cols('area (self time)', extra), top(s.areas, 25)),
    '',
    textTable(cols('function (self time)', extra), top(s.fns, 30)),
    '',
  ].join('\n');
}

function diff(a: Summary, b: Summary): string {
  const names = new Set([...a.areas.keys(), ...b.areas.keys()]);
  const rows = [...names]
    .map((k) => {
      const x = (a.areas.get(k) ?? 0) / a.requests;
      const y = (b.areas.get(k) ?? 0) / b.requests;
      return { k, x, y, d: y - x };
    })
    .sort((p, q) => Math.abs(q.d) - Math.abs(p.d))
    .slice(0, 25)
    .map(({ k, x, y, d }) => [k, fmt(x, 1), fmt(y, 1), `${d >= 0 ? '+' : ''}${d.toFixed(1)}`]);
  const busyA = a.busyUs / a.requests;
  const busyB = b.busyUs / b.requests;
  return [
    headline(a),
    headline(b),
    '',
    textTable(cols('area (self time), µs/req', ['base', 'other', 'other − base']), [
      ['busy, all areas', fmt(busyA, 1), fmt(busyB, 1), `+${(busyB - busyA).toFixed(1)}`],
      ...rows,
    ]),
    '',
  ].join('\n');
}

const args = process.argv.slice(2);
if (args[0] === '--diff' && args.length === 3) {
  process.stdout.write(`${diff(load(args[1] as string), load(args[2] as string))}\n`);
} else if (args.length > 0 && args[0] !== '--diff') {
  for (const f of args) process.stdout.write(`${summarize(load(f))}\n`);
} else {
  process.stderr.write(
    'usage: npx tsx bench/http/profile-summary.ts <file.cpuprofile>…\n' +
      '       npx tsx bench/http/profile-summary.ts --diff <base.cpuprofile> <other.cpuprofile>\n',
  );
  process.exitCode = 1;
}
