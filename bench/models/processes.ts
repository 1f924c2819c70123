/**
 * The processes of bench/models besides its own (each stopped by the harness):
 * the stand-in upstream, as a provider is reached, and `tollgate serve`, as
 * the gateway is deployed. The SDK and the library's fetch run in the bench's
 * process; so a call through the gateway crosses to another process and back,
 * as it does in production, and the SDK's reading of a stream is not queued
 * behind the gateway's work on the rest of it, as it would be on one thread.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelUpstreamOptions } from '../../test/support/model-upstream.js';
import { servePort, spawnServe, stopProcess } from '../../test/support/serve-process.js';
import type { BenchContext } from '../lib/harness.js';

const STAND_IN = fileURLToPath(new URL('./stand-in.ts', import.meta.url));
/** tsx's loader, found from here (a child may run in another folder). */
const TSX = import.meta.resolve('tsx');
/** node's arguments that run the CLI from the sources. */
const CLI = ['--import', TSX, fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))];

export interface StandInProcess {
  openaiBaseURL: string;
  /** Forgets the requests the stand-in recorded. */
  reset(): Promise<void>;
}

/** The stand-in upstream in a child process (bench/models/stand-in.ts). */
export async function standInProcess(
  ctx: BenchContext,
  options: ModelUpstreamOptions,
): Promise<StandInProcess> {
  const child = fork(STAND_IN, [JSON.stringify(options)], {
    execArgv: ['--import', TSX],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  ctx.onStop(() => stopProcess(child));
  const { openaiBaseURL } = await new Promise<{ openaiBaseURL: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { openaiBaseURL: string }));
    child.once('exit', (code) => reject(new Error(`the stand-in exited (${code})`)));
  });
  return {
    openaiBaseURL,
    reset: () =>
      new Promise<void>((resolve) => {
        child.once('message', () => resolve());
        child.send('reset');
      }),
  };
}

/**
 * `tollgate serve` on a free port, from the sources, with `policy` (written to
 * a file of its own) and `env`; resolves to its port once it listens.
 */
export async function serveProcess(
  ctx: BenchContext,
  policy: unknown,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  ctx.onStop(() => rmSync(dir, { recursive: true, force: true }));
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  const serve = await spawnServe({ ...env, TOLLGATE_POLICY: policyFile }, /listening on/, [], {
    entry: CLI,
    cwd: dir,
  });
  ctx.onStop(() => stopProcess(serve.proc));
  return servePort(serve);
}
