import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TollgateClient } from '../../src/client/index.js';

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Starts `tollgate serve` (from source) and reads the banner for its URL and admin token. */
async function startServe(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; token: string; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0'],
    {
      env: { ...process.env, ...env, REDIS_URL: '', REDIS_CLUSTER_NODES: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = proc;
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 20_000;
  while (!/Admin token: \S+/.test(out)) {
    if (Date.now() > deadline || proc.exitCode !== null)
      throw new Error(`serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /listening on (\S+)/.exec(out)?.[1] ?? '';
  const token = /Admin token: (\S+)/.exec(out)?.[1] ?? '';
  expect(out).toContain('EMBEDDED');
  expect(out).toContain('single process, not shared');
  return { url, token, proc };
}

describe('tollgate serve (embedded)', () => {
  it('starts with a generated admin token, answers the guide flow, and stops on SIGTERM', {
    timeout: 40_000,
  }, async () => {
    const { url, token, proc } = await startServe({ TOLLGATE_ADMIN_TOKEN: '' });
    expect(token.length).toBeGreaterThanOrEqual(16);
    const admin = new TollgateClient({ baseUrl: url, token });
    const agent = await admin.registerAgent({ agent_id: 'coder-7', role: 'coder' });
    expect(agent.api_key).toMatch(/^tg_/);
    const me = new TollgateClient({ baseUrl: url, token: agent.api_key });
    const session = await me.startSession('coder-7');
    expect(session.session_id.startsWith('coder-7.')).toBe(true);
    const d = await me.authorize({
      agent_id: 'coder-7',
      operation: 'write_file',
      estimated_tokens: 3000,
    });
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    await me.settle({
      reservation_id: d.reservation_id,
      input_tokens: 1200,
      output_tokens: 900,
      result: 'success',
    });
    const s = await me.getBudgetStatus('coder-7');
    expect(s.session).toMatchObject({ tokens_used: 2100, tokens_reserved: 0 });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
