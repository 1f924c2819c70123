import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TollgateClient } from '../../src/client/index.js';
import { spawnServe } from '../support/serve-process.js';

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Starts `tollgate serve` (from source) and reads the banner for its URL and admin token. */
async function startServe(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; token: string; proc: ChildProcess }> {
  const { proc, output } = await spawnServe(
    { ...env, REDIS_URL: '', REDIS_CLUSTER_NODES: '' },
    /Admin token: \S+/,
  );
  child = proc;
  const out = output();
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
