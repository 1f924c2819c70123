import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TollgateClient } from '../../src/client/index.js';
import { spawnServe } from '../support/serve-process.js';

let child: ChildProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'tg-serve-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Starts `tollgate serve` (from source) and reads the banner for its URL and admin token. */
async function startServe(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; token: string; proc: ChildProcess }> {
  const { proc, output } = await spawnServe(
    {
      TOLLGATE_DATA_DIR: dataDir,
      ...env,
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: '',
    },
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

  it("stopped and started again keeps its agents, keys and today's spend", {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-restart-'));
    const token = 'restart-admin-token-0123456789';
    try {
      const first = await startServe({ TOLLGATE_DATA_DIR: dir, TOLLGATE_ADMIN_TOKEN: token });
      const admin = new TollgateClient({ baseUrl: first.url, token });
      const kept = await admin.registerAgent({ agent_id: 'keeper', role: 'coder' });
      const gone = await admin.registerAgent({ agent_id: 'rotated', role: 'tester' });
      const rotated = await admin.rotateKey('rotated');
      const me = new TollgateClient({ baseUrl: first.url, token: kept.api_key });
      await me.run('keeper', 'write_file', { estimatedTokens: 3000 }, async () => ({
        inputTokens: 1200,
        outputTokens: 900,
      }));
      const before = await admin.getBudgetStatus('keeper');
      const exited = new Promise((r) => first.proc.once('exit', r));
      first.proc.kill('SIGTERM');
      await exited;

      const second = await startServe({ TOLLGATE_DATA_DIR: dir, TOLLGATE_ADMIN_TOKEN: token });
      const admin2 = new TollgateClient({ baseUrl: second.url, token });
      const after = await admin2.getBudgetStatus('keeper');
      expect(after.session).toEqual(before.session);
      expect(after.daily.cost_used).toBe(before.daily.cost_used);
      expect(after.daily.cost_used).toBeGreaterThan(0);
      const me2 = new TollgateClient({ baseUrl: second.url, token: kept.api_key });
      expect((await me2.getBudgetStatus('keeper')).session.tokens_used).toBe(2100);
      const d = await me2.authorize({
        agent_id: 'keeper',
        operation: 'read_file',
        estimated_tokens: 10,
      });
      expect(d.allowed).toBe(true);
      const oldKey = new TollgateClient({ baseUrl: second.url, token: gone.api_key, retries: 1 });
      await expect(oldKey.getBudgetStatus('rotated')).rejects.toMatchObject({ status: 401 });
      const newKey = new TollgateClient({ baseUrl: second.url, token: rotated.api_key });
      expect((await newKey.getBudgetStatus('rotated')).role).toBe('tester');
    } finally {
      // The second server writes to the folder until it exits: gone first, then removed.
      const last = child;
      child = undefined;
      if (last && last.exitCode === null && last.signalCode === null) {
        await new Promise((resolve) => last.once('exit', resolve).kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
