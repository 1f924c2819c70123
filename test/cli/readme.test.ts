/**
 * The README's walkthrough runs as pasted: its curl block (bash, jq) and then
 * its SDK block, against a fresh `tollgate serve` (embedded, as `npm start`),
 * with only TOLLGATE_URL and TOLLGATE_ADMIN_TOKEN set, as the README says.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TollgateClient } from '../../src/client/index.js';
import { spawnServe, stopProcess } from '../support/serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-readme-'));
let serve: ChildProcess | undefined;
let url = '';
let token = '';

/** The fenced block right after the README's `<!-- walkthrough:<name> … -->` marker. */
function block(name: string): string {
  const readme = readFileSync('README.md', 'utf8');
  const at = readme.indexOf(`<!-- walkthrough:${name}`);
  expect(at, `README.md has no <!-- walkthrough:${name} --> marker`).toBeGreaterThanOrEqual(0);
  const fence = /```[a-z]*\n([\s\S]*?)\n```/.exec(readme.slice(at));
  if (!fence?.[1]) throw new Error(`no code block after the walkthrough:${name} marker`);
  return fence[1];
}

function run(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((r) => proc.once('close', (code) => r({ code, stdout, stderr })));
}

beforeAll(async () => {
  // .ci/run installs jq when it is missing.
  expect(() => execFileSync('which', ['jq']), 'jq is needed (apt-get install jq)').not.toThrow();
  const s = await spawnServe(
    {
      TOLLGATE_DATA_DIR: join(dir, 'data'),
      TOLLGATE_ADMIN_TOKEN: '',
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: '',
    },
    /Admin token: \S+/,
    [],
    { startTimeoutMs: 90_000 },
  );
  serve = s.proc;
  url = /listening on (\S+)/.exec(s.output())?.[1] ?? '';
  token = /Admin token: (\S+)/.exec(s.output())?.[1] ?? '';
}, 120_000);

afterAll(async () => {
  if (serve) await stopProcess(serve);
  rmSync(dir, { recursive: true, force: true });
});

describe('README walkthrough', () => {
  const env = () => ({ TOLLGATE_URL: url, TOLLGATE_ADMIN_TOKEN: token });

  it('the curl block runs as pasted (bash -euo pipefail): keys and ids captured with jq', {
    timeout: 60_000,
  }, async () => {
    const r = await run('bash', ['-euo', 'pipefail', '-c', block('curl')], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/"session_id":"coder-7\.[0-9a-f]{16}"/);
    expect(r.stdout).toMatch(/"outcome": "settled"/);
    expect(r.stdout).toMatch(/"tokens_used": 2100,/);
    expect(r.stdout).toMatch(/"tokens_reserved": 0,/);
    expect(r.stdout).toContain('{"agent_id":"coder-7","status":"ACTIVE","cost_used":');
    const s = await new TollgateClient({ baseUrl: url, token }).getBudgetStatus('coder-7');
    expect(s.session).toMatchObject({ tokens_used: 2100, tokens_reserved: 0 });
  });

  it('then the SDK block runs as pasted, on its own agent', { timeout: 60_000 }, async () => {
    const client = pathToFileURL(resolve('src/client/index.ts')).href;
    const code = block('sdk');
    expect(code).toContain("from 'tollgate/client'");
    const file = join(dir, 'walkthrough.mts');
    // The package's own name is resolved by npm once installed; here, its sources.
    writeFileSync(file, code.replace("'tollgate/client'", `'${client}'`));
    const tsx = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;
    const r = await run(process.execPath, ['--import', tsx, file], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('2100\n');
  });
});
