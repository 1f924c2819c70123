import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The preload that seeds new PGlite folders from the run's template. */
export const SEED_CHILD = fileURLToPath(new URL('../setup/pglite-seed-child.ts', import.meta.url));

/** node's arguments that run the CLI from the sources (tsx), new PGlite folders seeded (SEED_CHILD). */
export const CLI_FROM_SOURCE: readonly string[] = [
  '--import',
  'tsx',
  '--import',
  SEED_CHILD,
  'src/cli/main.ts',
];

export interface ServeProcess {
  proc: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
}

export interface SpawnServeOptions {
  /** The CLI's entry: node's arguments before `serve` (default: the sources, through tsx). */
  entry?: readonly string[];
  /** The child's working directory. */
  cwd?: string;
  /** How long the banner may take (default 30 s; PGlite's first start is slow on a busy machine). */
  startTimeoutMs?: number;
}

/**
 * Starts `tollgate serve --port 0` (then `args`), from source unless
 * `opts.entry` names another CLI, and waits until its output matches `ready`
 * (the banner).
 */
export async function spawnServe(
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  args: readonly string[] = [],
  opts: SpawnServeOptions = {},
): Promise<ServeProcess> {
  // From the sources, new PGlite folders start from the run's template (test/setup/pglite-seed.ts).
  const entry = opts.entry ?? CLI_FROM_SOURCE;
  const proc = spawn(process.execPath, [...entry, 'serve', '--port', '0', ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  while (!ready.test(out)) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error(`serve did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, output: () => out };
}

/** The port a started `serve` says it listens on. */
export function servePort(s: ServeProcess): number {
  return Number(/listening on http:\/\/localhost:(\d+)/.exec(s.output())?.[1]);
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. */
export function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/**
 * Runs `tollgate <args>` from source to its end (SIGKILL after `timeoutMs`):
 * its exit code and everything it wrote. A new PGlite folder it opens starts
 * from the run's template, as in `spawnServe`.
 */
export function runCliProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, [...CLI_FROM_SOURCE, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const add = (d: Buffer) => {
    output += d.toString();
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
