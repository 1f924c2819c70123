import { type ChildProcess, execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { servePort, spawnServe, stopProcess } from '../support/serve-process.js';

/**
 * What ships serves: the npm package (package.json `files`) and the Docker
 * image hold everything the server reads at run time.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  files: string[];
  bin: Record<string, string>;
};
const run = promisify(execFile);

/** The top-level entries of the package the sources read at run time (`new URL('../../x/', import.meta.url)`). */
function runtimeReads(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/new URL\(\s*'(\.\.\/[^']*)',\s*import\.meta\.url\s*\)/g)) {
          // src/<a>/<b>.ts and dist/<a>/<b>.js sit at the same depth.
          const target = posix.join(
            relative(ROOT, dirname(path)).split('\\').join('/'),
            m[1] ?? '',
          );
          const top = target.split('/')[0];
          if (top && top !== '..' && top !== 'src') found.add(top);
        }
      }
    }
  };
  walk(join(ROOT, 'src'));
  return found;
}

interface Copy {
  sources: string[];
  dest: string;
  from?: string;
}

/** The final stage of the Dockerfile: its WORKDIR and COPY instructions. */
function finalStage(): { workdir: string; copies: Copy[]; buildCopiesAll: boolean } {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  const last = stages.at(-1) ?? [];
  let workdir = '/';
  const copies: Copy[] = [];
  for (const line of last) {
    const [instr, ...args] = line.split(/\s+/);
    if (/^WORKDIR$/i.test(instr ?? '')) workdir = args[0] ?? '/';
    if (!/^COPY$/i.test(instr ?? '')) continue;
    const from = args.find((a) => a.startsWith('--from='))?.slice('--from='.length);
    const paths = args.filter((a) => !a.startsWith('--'));
    copies.push({ sources: paths.slice(0, -1), dest: paths.at(-1) ?? '', from });
  }
  const buildCopiesAll = (stages[0] ?? []).some((l) => /^COPY\s+\.\s+\.$/i.test(l));
  return { workdir, copies, buildCopiesAll };
}

/** A .dockerignore pattern as a regular expression (enough for its simple globs). */
function ignoreRegex(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/|\/$/g, '')
    .replace(/[.+^${}()|[\]]/g, '\\$&')
    .replace(/\*\*/g, '\0')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]')
    .replace(/\0/g, '.*');
  return new RegExp(`^${body}(/.*)?$`);
}

describe('the Docker image holds what the package ships', () => {
  const needed = ['package.json', 'node_modules', ...pkg.files];
  const { workdir, copies, buildCopiesAll } = finalStage();
  /** Entry (relative to the build stage's /app) → where it lands in the final image. */
  const copied = new Map<string, string>();
  for (const c of copies) {
    for (const s of c.sources) {
      const rel = posix.relative('/app', posix.resolve('/app', s));
      copied.set(rel, posix.resolve(workdir, c.dest));
    }
  }

  it('copies every entry of package.json `files`, package.json and node_modules into the final stage, each to the same place', () => {
    expect(workdir).toBe('/app');
    expect(copies.every((c) => c.from === 'build')).toBe(true);
    for (const entry of needed) {
      expect(copied.get(entry), `${entry} is not copied into the final image`).toBe(
        posix.join('/app', entry),
      );
    }
  });

  it('its build stage sees them: `COPY . .` and no .dockerignore pattern drops a shipped entry', () => {
    expect(buildCopiesAll).toBe(true);
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'));
    // dist is built inside the image; everything else comes from the context.
    for (const entry of [...pkg.files.filter((f) => f !== 'dist'), 'package.json']) {
      const hit = patterns.find((p) => ignoreRegex(p).test(entry));
      expect(hit, `.dockerignore drops ${entry}`).toBeUndefined();
    }
  });

  it('nothing the server reads at run time is missing from the package or the image', () => {
    const reads = runtimeReads();
    // The scan works: the Redis scripts, the dashboard and the version.
    expect([...reads].sort()).toEqual(expect.arrayContaining(['dashboard', 'lua', 'package.json']));
    for (const entry of reads) {
      expect(entry === 'package.json' || pkg.files.includes(entry), `${entry} not in files`).toBe(
        true,
      );
      expect(copied.has(entry), `${entry} not in the image`).toBe(true);
    }
    // The image runs the package's own bin.
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENTRYPOINT ["node", "${pkg.bin.tollgate}"]`);
  });
});

describe('the npm package, installed, serves', () => {
  let tmp: string | undefined;
  let proc: ChildProcess | undefined;
  afterAll(async () => {
    if (proc) await stopProcess(proc);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('npm pack (built by `prepare`), npm install of the tarball, then /dashboard, /openapi.json and /metrics answer 200', {
    timeout: 300_000,
  }, async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tg-pack-'));
    // `npm pack` runs `prepare` (npm run build): the tarball holds a fresh dist.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    const tarball = join(tmp, info[0]?.filename ?? '');
    const paths = new Set(info[0]?.files.map((f) => f.path));
    for (const f of ['dist/cli/main.js', 'dashboard/index.html', 'README.md', 'package.json']) {
      expect(paths.has(f), `${f} not packed`).toBe(true);
    }

    const app = join(tmp, 'app');
    const data = join(tmp, 'data');
    mkdirSync(app);
    mkdirSync(data);
    // The packaged CLI's PGlite folder starts as the run's migrated template (test/setup/pglite-seed.ts).
    cpSync(inject('pgliteTemplate'), join(data, 'pglite'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"name":"tg-pack-check","private":true}\n');
    const install = (mode: string) =>
      run(
        'npm',
        ['install', tarball, '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', mode],
        { cwd: app, maxBuffer: 64 * 1024 * 1024 },
      );
    // From npm's cache when it has everything; else the registry fills the gaps.
    await install('--offline').catch(() => install('--prefer-offline'));

    const token = 'package-check-admin-token';
    const main = join(app, 'node_modules', pkg.name, pkg.bin.tollgate ?? '');
    const served = await spawnServe(
      {
        TOLLGATE_DATA_DIR: data,
        TOLLGATE_ADMIN_TOKEN: token,
        REDIS_URL: '',
        REDIS_CLUSTER_NODES: '',
        DATABASE_URL: '',
      },
      /Admin token: \S+/,
      [],
      { entry: [main], cwd: app, startTimeoutMs: 100_000 },
    );
    proc = served.proc;
    const port = servePort(served);
    const base = `http://127.0.0.1:${port}`;
    const auth = { Authorization: `Bearer ${token}` };

    const dashboard = await fetch(`${base}/dashboard`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<html');
    const script = await fetch(`${base}/dashboard/dashboard.js`);
    expect(script.status).toBe(200);
    const openapi = await fetch(`${base}/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(((await openapi.json()) as { openapi?: string }).openapi).toMatch(/^3\./);
    const metrics = await fetch(`${base}/metrics`, { headers: auth });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('tollgate_');
    // A route that runs the engine and the store.
    const agents = await fetch(`${base}/v1/agents`, { headers: auth });
    expect(agents.status).toBe(200);
  });
});
