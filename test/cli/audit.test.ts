/**
 * `tollgate audit` and `tollgate audit lag` against a running API: an
 * embedded Tollgate whose in-process drain stores into PGlite in a temp dir,
 * and `tollgate serve --with-worker` in Redis mode (a private redis-server:
 * its worker drains the outboxes) sharing its PGlite with the API.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { AuditLagSchema, AuditPageSchema } from '../../src/api/schemas.js';
import { serve } from '../../src/cli/commands/serve.js';
import { runCli } from '../../src/cli/index.js';
import { TollgateClient } from '../../src/client/index.js';
import { digestKey } from '../../src/identity/api-key.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { capture } from '../support/capture.js';
import { uid } from '../support/engines.js';
import { only } from './harness.js';

const ADMIN = 'cli-audit-admin-token-0123456789';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-cli-audit-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CURSOR_LINE = /^Next page: --cursor (\S+)$/;

describe('tollgate audit (embedded API)', () => {
  let tg: Tollgate;
  let server: Server;
  let env: NodeJS.ProcessEnv;
  let admin: TollgateClient;
  let a: { id: string; key: string };
  let b: { id: string; key: string };
  /** Everything the CLI printed, searched for key digests at the end. */
  const printed: string[] = [];

  async function cli(argv: string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const out = capture();
    const code = await runCli(argv, { ...env, ...extraEnv }, out);
    printed.push(out.stdout, out.stderr);
    return { code, out };
  }

  async function register(role = 'coder') {
    const r = await admin.registerAgent({ agent_id: uid('cla'), role });
    return { id: r.agent_id, key: r.api_key };
  }

  beforeAll(async () => {
    tg = await createTollgate({ store: { dataDir: tempDir() }, drain: { intervalMs: 60_000 } });
    server = createApp({ tollgate: tg, adminToken: ADMIN }).listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = { TOLLGATE_URL: base, TOLLGATE_ADMIN_TOKEN: ADMIN };
    admin = new TollgateClient({ baseUrl: base, token: ADMIN });
    a = await register();
    b = await register();
    const agentA = new TollgateClient({ baseUrl: base, token: a.key });
    for (let i = 0; i < 5; i++) {
      const d = await agentA.authorize({ agent_id: a.id, operation: 'write_file' });
      if (!d.allowed) throw new Error('setup: denied');
      await agentA.settle({
        reservation_id: d.reservation_id,
        input_tokens: 1200,
        output_tokens: 300,
        result: 'success',
      });
    }
    await agentA.authorize({ agent_id: a.id, operation: 'deploy' }); // denied: RBAC
    await admin.authorize({ agent_id: b.id, operation: 'read_file' });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await tg.close();
  });

  it('audit lag: the backlog before the drain, 0 after', async () => {
    const before = await cli(['audit', 'lag', '--json']);
    expect(before.code).toBe(0);
    const lag = AuditLagSchema.parse(only(before.out));
    expect(lag.engine).toBe('memory');
    expect(lag.backlog).toBeGreaterThan(10);
    const text = await cli(['audit', 'lag']);
    expect(text.code).toBe(0);
    expect(text.out.text[0]).toMatch(
      /^Audit backlog \(memory engine, .*\): \d+ events not yet stored, oldest/,
    );
    expect(
      text.out.text.some((l) => /^SHARD\s+BACKLOG\s+PENDING\s+OLDEST MS\s+DEAD$/.test(l)),
    ).toBe(true);

    await tg.drain?.flush();
    const after = await cli(['audit', 'lag', '--json']);
    expect(only(after.out)).toMatchObject({ backlog: 0, oldest_age_ms: 0 });
    const afterText = await cli(['audit', 'lag']);
    expect(afterText.out.text[0]).toMatch(/: 0 events not yet stored; 0 pending, 0 dead letters$/);
    expect(afterText.out.text.at(-1)).toMatch(
      /^Embedded drain: \d+ drained \(\d+ new\), 0 rejected, last success /,
    );
    // Admin only.
    const asAgent = await cli(['audit', 'lag'], { TOLLGATE_ADMIN_TOKEN: a.key });
    expect(asAgent.code).toBe(1);
    expect(asAgent.out.errors[0]).toMatch(/^FORBIDDEN: /);
  });

  it('lists an agent’s events as a table, newest first, with the next cursor; pages follow it', async () => {
    const all = await cli(['audit', '--agent', a.id, '--limit', '1000', '--json']);
    expect(all.code).toBe(0);
    const page = AuditPageSchema.parse(only(all.out));
    expect(page.next_cursor).toBeUndefined();
    // registered, 6 decisions, 5 settles at least.
    expect(page.events.length).toBeGreaterThanOrEqual(12);
    const expected = page.events.map((e) => `${e.at} ${e.type}`);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const args = [
        'audit',
        '--agent',
        a.id,
        '--limit',
        '5',
        ...(cursor ? ['--cursor', cursor] : []),
      ];
      const { code, out } = await cli(args);
      expect(code, out.stderr).toBe(0);
      pages++;
      const [header, ...rest] = out.text;
      expect(header).toMatch(/^TIME\s+TYPE\s+AGENT\s+OPERATION\s+OUTCOME\s+TOKENS\s+COST\s+ACTOR$/);
      const last = rest.pop() as string;
      const count = rest.pop() as string;
      for (const row of rest) {
        const [at, type, agent] = row.split(/\s+/);
        expect(agent).toBe(a.id);
        seen.push(`${at} ${type}`);
      }
      expect(count).toBe(`${rest.length} event${rest.length === 1 ? '' : 's'}`);
      const m = CURSOR_LINE.exec(last);
      if (!m) {
        expect(last).toBe('Last page (no next cursor).');
        break;
      }
      expect(rest).toHaveLength(5);
      cursor = m[1];
    }
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 5));
  });

  it('filters, and shows denials, settles and their cost readably', async () => {
    const denied = await cli([
      'audit',
      '--agent',
      a.id,
      '--type',
      'decision',
      '--allowed',
      'false',
    ]);
    expect(denied.code).toBe(0);
    const rows = denied.out.text.slice(1, -2);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/decision\s+\S+\s+deploy\s+denied RBAC_DENIED/);
    const settles = await cli(['audit', '--agent', a.id, '--type', 'settle']);
    const settleRows = settles.out.text.slice(1, -2);
    expect(settleRows).toHaveLength(5);
    for (const r of settleRows) {
      expect(r).toMatch(
        /settle\s+\S+\s+write_file\s+success\s+1,200 in \/ 300 out\s+\$0\.0081\s+agent$/,
      );
    }
    const none = await cli([
      'audit',
      '--agent',
      a.id,
      '--from',
      '2000-01-01',
      '--to',
      '2000-01-02',
    ]);
    expect(none.code).toBe(0);
    expect(none.out.text).toEqual(['No events match.']);
    // Everyone's (admin, no --agent): both agents appear.
    const every = await cli(['audit', '--type', 'decision', '--limit', '1000', '--json']);
    const agents = new Set(only(every.out).events.map((e: { agent_id: string }) => e.agent_id));
    expect(agents).toContain(a.id);
    expect(agents).toContain(b.id);
  });

  it("with an agent key: only that agent's events; another agent's: FORBIDDEN (exit 1)", async () => {
    const own = await cli(['audit', '--limit', '1000', '--json'], { TOLLGATE_ADMIN_TOKEN: a.key });
    expect(own.code).toBe(0);
    const ids = new Set(only(own.out).events.map((e: { agent_id: string }) => e.agent_id));
    expect(ids).toEqual(new Set([a.id]));
    const other = await cli(['audit', '--agent', b.id], { TOLLGATE_ADMIN_TOKEN: a.key });
    expect(other.code).toBe(1);
    expect(other.out.errors[0]).toMatch(/^FORBIDDEN: An agent key reaches only its own agent/);
    expect(other.out.text).toEqual([]);
  });

  it('usage errors exit 2 before calling; the API’s refusals exit 1', async () => {
    for (const args of [
      ['--allowed', 'maybe'],
      ['--limit', '0'],
      ['--limit', '1001'],
      ['--limit', 'ten'],
      ['--type', 'nope'],
      ['--bogus'],
      ['extra'],
    ]) {
      const r = await cli(['audit', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out.errors[0]).toMatch(/^tollgate: /);
    }
    const badTime = await cli(['audit', '--from', 'yesterday']);
    expect(badTime.code).toBe(1);
    expect(badTime.out.errors[0]).toMatch(/^VALIDATION_FAILED: Invalid request: query\.from: /);
    const badCursor = await cli(['audit', '--cursor', 'nonsense']);
    expect(badCursor.code).toBe(1);
    expect(badCursor.out.errors[0]).toMatch(/^VALIDATION_FAILED: .*query\.cursor/);
    const help = await cli(['audit', '--help']);
    expect(help.code).toBe(0);
    expect(help.out.text[0]).toMatch(/^Usage: tollgate audit /);
    const lagHelp = await cli(['audit', 'lag', '--help']);
    expect(lagHelp.code).toBe(0);
    expect(lagHelp.out.text[0]).toMatch(/^Usage: tollgate audit lag/);
  });

  it('never prints a key digest', async () => {
    const text = printed.join('\n');
    expect(text.length).toBeGreaterThan(1000);
    for (const key of [a.key, b.key]) expect(text.includes(digestKey(key))).toBe(false);
    expect(text).not.toContain('key_digest');
  });
});

describe('tollgate serve --with-worker, Redis mode without DATABASE_URL', () => {
  let redis: RedisServer;
  let base: string;
  let stop: () => Promise<void>;
  let served: Promise<number>;
  const out = capture();

  beforeAll(async () => {
    redis = await startRedis();
    const env: NodeJS.ProcessEnv = {
      REDIS_URL: redis.url,
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      TOLLGATE_DATA_DIR: tempDir(),
    };
    const ready = new Promise<{ port: number; close: () => Promise<void> }>((resolve) => {
      served = serve(out, ['--port', '0', '--with-worker'], env, (port, close) =>
        resolve({ port, close }),
      );
    });
    const r = await ready;
    base = `http://127.0.0.1:${r.port}`;
    stop = r.close;
  }, 60_000);

  afterAll(async () => {
    await stop?.();
    await served;
    await redis?.stop();
  });

  it('the in-process worker drains into the PGlite it shares with the API; audit lists it', async () => {
    expect(out.stdout).toMatch(
      /Audit reads \(GET \/v1\/audit\): .*pglite, shared with the in-process worker/,
    );
    const admin = new TollgateClient({ baseUrl: base, token: ADMIN });
    const id = uid('srv');
    const { api_key: key } = await admin.registerAgent({ agent_id: id, role: 'coder' });
    const agent = new TollgateClient({ baseUrl: base, token: key });
    for (let i = 0; i < 3; i++) await agent.authorize({ agent_id: id, operation: 'read_file' });

    // The worker drains within a few ticks: the backlog goes to 0 and the events are listed.
    let events: { type: string }[] = [];
    for (let i = 0; i < 200; i++) {
      const lag = await admin.auditLag();
      expect(lag.engine).toBe('redis');
      if (lag.backlog === 0) {
        events = (await agent.audit({ limit: 1000 })).events;
        if (events.length >= 4) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(events.filter((e) => e.type === 'decision')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'agent_registered')).toHaveLength(1);

    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { audit: { backlog: number } }).audit.backlog).toBe(0);

    const cliOut = capture();
    const code = await runCli(
      ['audit', '--type', 'decision', '--limit', '2'],
      { TOLLGATE_URL: base, TOLLGATE_ADMIN_TOKEN: key },
      cliOut,
    );
    expect(code, cliOut.stderr).toBe(0);
    expect(cliOut.text).toHaveLength(1 + 2 + 2);
    expect(cliOut.text.at(-1)).toMatch(CURSOR_LINE);
  });
});
