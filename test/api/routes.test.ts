import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/api/errors.js';
import { type DecisionRecorder, mountRoutes, type SettleObservation } from '../../src/api/route.js';
import { gateRoutes } from '../../src/api/routes/gate.js';
import {
  AgentListSchema,
  AgentRecordSchema,
  AgentWithKeySchema,
  BudgetStatusSchema,
  DecisionSchema,
  DeletedSchema,
  ErrorSchema,
  ReleaseResponseSchema,
  SessionStartedSchema,
  SessionSummarySchema,
  SettleResponseSchema,
  UsageResponseSchema,
  VerifySchema,
} from '../../src/api/schemas.js';
import { uid } from '../support/engines.js';
import { ADMIN, type Api, isError, startApi } from './harness.js';

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

describe('agents', () => {
  it('registers an agent: 201 with the record and its key, once', async () => {
    const id = uid('reg');
    const r = await api.call('POST', '/v1/agents', {
      body: { agent_id: id, role: 'coder', metadata: { team: 'a', n: 1 } },
    });
    expect(r.status).toBe(201);
    const rec = AgentWithKeySchema.parse(r.body);
    expect(rec).toMatchObject({ agent_id: id, role: 'coder', status: 'active' });
    expect(rec.metadata).toEqual({ team: 'a', n: 1 });
    // The key names its agent: tg_<agent_id>.<256 random bits, base64url>.
    expect(rec.api_key).toMatch(new RegExp(`^tg_${id}\\.[A-Za-z0-9_-]{43}$`));
    expect(rec.permissions.length).toBeGreaterThan(0);
    const again = await api.call('GET', `/v1/agents/${id}`);
    expect(again.status).toBe(200);
    expect(AgentRecordSchema.parse(again.body)).not.toHaveProperty('api_key');
  });

  it('refuses a second agent with the same id: 409 CONFLICT', async () => {
    const { id } = await api.agent();
    const r = await api.call('POST', '/v1/agents', { body: { agent_id: id, role: 'coder' } });
    expect(r.status).toBe(409);
    expect(isError(r, 'CONFLICT')).toBe(true);
    ErrorSchema.parse(r.body);
  });

  it('lists agents, filtered by role and status', async () => {
    const role = `r${uid('').slice(1, 10).replace(/-/g, '')}`;
    const a = await api.agent(role);
    const b = await api.agent(role);
    await api.call('POST', `/v1/agents/${b.id}/suspend`);
    const all = await api.call('GET', `/v1/agents?role=${role}`);
    expect(all.status).toBe(200);
    const list = AgentListSchema.parse(all.body);
    expect(list.agents.map((x) => x.agent_id).sort()).toEqual([a.id, b.id].sort());
    const active = await api.call('GET', `/v1/agents?role=${role}&status=active`);
    expect(active.body.agents.map((x: { agent_id: string }) => x.agent_id)).toEqual([a.id]);
    const bad = await api.call('GET', '/v1/agents?status=gone');
    expect(bad.status).toBe(400);
    expect(isError(bad, 'VALIDATION_FAILED')).toBe(true);
    expect(bad.body.error.details.issues[0].path).toBe('query.status');
  });

  it('gets an agent, or 404 NOT_FOUND', async () => {
    const { id, key } = await api.agent();
    const own = await api.call('GET', `/v1/agents/${id}`, { token: key });
    expect(own.status).toBe(200);
    expect(own.body.agent_id).toBe(id);
    const missing = await api.call('GET', `/v1/agents/${uid('none')}`);
    expect(missing.status).toBe(404);
    expect(isError(missing, 'NOT_FOUND')).toBe(true);
  });

  it('verifies an agent', async () => {
    const { id, key } = await api.agent();
    expect(VerifySchema.parse((await api.call('GET', `/v1/agents/${id}/verify`)).body)).toEqual({
      valid: true,
      reason: null,
    });
    const self = await api.call('GET', `/v1/agents/${id}/verify`, { token: key });
    expect(self.body).toEqual({ valid: true, reason: null });
    await api.call('POST', `/v1/agents/${id}/suspend`);
    const susp = await api.call('GET', `/v1/agents/${id}/verify`, { token: key });
    expect(susp.body).toEqual({ valid: false, reason: 'Agent is suspended' });
    const none = await api.call('GET', `/v1/agents/${uid('none')}/verify`);
    expect(none.body).toEqual({ valid: false, reason: 'Agent not found' });
  });

  it('suspends and resumes: authorize answers AGENT_SUSPENDED in between', async () => {
    const { id, key } = await api.agent();
    const s = await api.call('POST', `/v1/agents/${id}/suspend`);
    expect(s.status).toBe(200);
    expect(AgentRecordSchema.parse(s.body).status).toBe('suspended');
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file' },
    });
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ allowed: false, error_code: 'AGENT_SUSPENDED' });
    const r = await api.call('POST', `/v1/agents/${id}/resume`);
    expect(r.body.status).toBe('active');
    const ok = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file' },
    });
    expect(ok.body.allowed).toBe(true);
    for (const verb of ['suspend', 'resume', 'keys']) {
      const missing = await api.call('POST', `/v1/agents/${uid('none')}/${verb}`);
      expect(missing.status).toBe(404);
      expect(isError(missing, 'NOT_FOUND')).toBe(true);
    }
  });

  it('rotates a key: the new key works, the old one is 401 at once', async () => {
    const { id, key } = await api.agent();
    const r = await api.call('POST', `/v1/agents/${id}/keys`);
    expect(r.status).toBe(200);
    const fresh = AgentWithKeySchema.parse(r.body).api_key;
    expect(fresh).not.toBe(key);
    const old = await api.call('GET', `/v1/agents/${id}`, { token: key });
    expect(old.status).toBe(401);
    expect(isError(old, 'UNAUTHENTICATED')).toBe(true);
    expect(old.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const oldAuth = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file' },
    });
    expect(oldAuth.status).toBe(401);
    const now = await api.call('GET', `/v1/agents/${id}`, { token: fresh });
    expect(now.status).toBe(200);
  });

  it('deletes an agent: its last status, then 404; its key is 401', async () => {
    const { id, key } = await api.agent();
    const r = await api.call('DELETE', `/v1/agents/${id}`);
    expect(r.status).toBe(200);
    expect(DeletedSchema.parse(r.body)).toMatchObject({ agent_id: id, deleted: true });
    expect((await api.call('GET', `/v1/agents/${id}`)).status).toBe(404);
    expect((await api.call('DELETE', `/v1/agents/${id}`)).status).toBe(404);
    for (const [method, path, body] of [
      ['GET', `/v1/agents/${id}`, undefined],
      ['GET', `/v1/agents/${id}/budget`, undefined],
      ['POST', '/v1/authorize', { agent_id: id, operation: 'write_file' }],
      ['POST', '/v1/usage', { agent_id: id, input_tokens: 1, output_tokens: 1 }],
      ['POST', '/v1/release', { reservation_id: `${id}.0123456789abcdef` }],
    ] as const) {
      const x = await api.call(method, path, { token: key, body });
      expect(x.status, `${method} ${path}`).toBe(401);
    }
  });
});

describe('budget and sessions', () => {
  it('reads and overrides limits', async () => {
    const { id, key } = await api.agent('coder');
    const before = BudgetStatusSchema.parse(
      (await api.call('GET', `/v1/agents/${id}/budget`, { token: key })).body,
    );
    expect(before.agent_id).toBe(id);
    const put = await api.call('PUT', `/v1/agents/${id}/budget`, {
      body: { session_token_limit: 1234, daily_cost_limit: 2.5 },
    });
    expect(put.status).toBe(200);
    const after = BudgetStatusSchema.parse(put.body);
    expect(after.session.tokens_limit).toBe(1234);
    expect(after.daily.cost_limit).toBe(2.5);
    const onlyOne = await api.call('PUT', `/v1/agents/${id}/budget`, {
      body: { daily_cost_limit: 3 },
    });
    expect(onlyOne.body.session.tokens_limit).toBe(1234);
    expect(onlyOne.body.daily.cost_limit).toBe(3);
    const empty = await api.call('PUT', `/v1/agents/${id}/budget`, { body: {} });
    expect(empty.status).toBe(400);
    expect(isError(empty, 'VALIDATION_FAILED')).toBe(true);
    const missing = await api.call('PUT', `/v1/agents/${uid('none')}/budget`, {
      body: { session_token_limit: 1 },
    });
    expect(missing.status).toBe(404);
    const missingGet = await api.call('GET', `/v1/agents/${uid('none')}/budget`);
    expect(missingGet.status).toBe(404);
    expect(isError(missingGet, 'NOT_FOUND')).toBe(true);
  });

  it('starts and ends sessions', async () => {
    const { id, key } = await api.agent();
    const firstSid = (await api.call('GET', `/v1/agents/${id}`)).body.session_id as string;
    const s = await api.call('POST', `/v1/agents/${id}/sessions`, { token: key });
    expect(s.status).toBe(201);
    const started = SessionStartedSchema.parse(s.body);
    expect(started.session_id.startsWith(`${id}.`)).toBe(true);
    await api.call('POST', '/v1/usage', {
      token: key,
      body: { agent_id: id, input_tokens: 100, output_tokens: 50 },
    });
    const e = await api.call('DELETE', `/v1/agents/${id}/sessions/${started.session_id}`, {
      token: key,
    });
    expect(e.status).toBe(200);
    const summary = SessionSummarySchema.parse(e.body);
    expect(summary).toMatchObject({
      agent_id: id,
      session_id: started.session_id,
      tokens_used: 150,
    });
    expect(summary.next_session_id).not.toBe(started.session_id);
    // Ending the session ended last again (a retry) answers its summary again, ends nothing.
    const twice = await api.call('DELETE', `/v1/agents/${id}/sessions/${started.session_id}`);
    expect(twice.status).toBe(200);
    const { budget_status: _b1, ...first } = summary;
    const { budget_status: b2, ...second } = SessionSummarySchema.parse(twice.body);
    expect(second).toEqual(first);
    expect(b2.session.session_id).toBe(summary.next_session_id);
    // A session that ended before that one: 404.
    const older = await api.call('DELETE', `/v1/agents/${id}/sessions/${firstSid}`);
    expect(older.status).toBe(404);
    expect(isError(older, 'NOT_FOUND')).toBe(true);
    const other = await api.agent();
    const foreign = await api.call(
      'DELETE',
      `/v1/agents/${other.id}/sessions/${summary.next_session_id}`,
    );
    expect(foreign.status).toBe(404);
    const bad = await api.call('DELETE', `/v1/agents/${id}/sessions/not-a-session`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('params.sid');
    const none = await api.call('POST', `/v1/agents/${uid('none')}/sessions`);
    expect(none.status).toBe(404);
  });
});

describe('authorize, settle, release, usage', () => {
  it("runs the guide's flow end to end: register, session, authorize, settle, status", async () => {
    const reg = await api.call('POST', '/v1/agents', {
      body: { agent_id: uid('flow'), role: 'coder' },
    });
    const { agent_id: id, api_key: key } = reg.body;
    const session = await api.call('POST', `/v1/agents/${id}/sessions`, { token: key });
    const sid = session.body.session_id;
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 2000, model: 'gpt-4o' },
    });
    expect(d.status).toBe(200);
    const decision = DecisionSchema.parse(d.body);
    if (!decision.allowed) throw new Error('expected an allowed decision');
    expect(decision.reservation_id.startsWith(`${id}.`)).toBe(true);
    expect(decision.budget_status.session.tokens_reserved).toBe(2000);
    expect(decision.budget_status.session.session_id).toBe(sid);
    const s = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: decision.reservation_id,
        input_tokens: 1200,
        output_tokens: 300,
        model: decision.model, // the hold's: `default`, the policy does not price gpt-4o
        result: 'success',
      },
    });
    expect(s.status).toBe(200);
    const settled = SettleResponseSchema.parse(s.body);
    expect(settled.outcome).toBe('settled');
    expect(settled.cost).toBeGreaterThan(0);
    expect(settled).toMatchObject({ overrun_tokens: 0, overrun_cost: 0 });
    expect(settled.budget_status.session).toMatchObject({ tokens_used: 1500, tokens_reserved: 0 });
    // The same settle again (a retry) answers the recorded one, counts nothing.
    const again = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: decision.reservation_id,
        input_tokens: 1200,
        output_tokens: 300,
        result: 'success',
      },
    });
    expect(again.status).toBe(200);
    expect(SettleResponseSchema.parse(again.body)).toMatchObject({
      outcome: 'already_closed',
      cost: settled.cost,
      overrun_tokens: 0,
    });
    expect(again.body.budget_status.session.tokens_used).toBe(1500);
    // Other usage under the same reservation: 409, saying what was recorded.
    const other = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: decision.reservation_id,
        input_tokens: 1,
        output_tokens: 1,
        result: 'success',
      },
    });
    expect(other.status).toBe(409);
    expect(isError(other, 'IDEMPOTENCY_CONFLICT')).toBe(true);
    expect(other.body.error.details.recorded).toMatchObject({
      state: 'settled',
      input_tokens: 1200,
      output_tokens: 300,
      result: 'success',
    });
    const status = await api.call('GET', `/v1/agents/${id}/budget`, { token: key });
    expect(status.body.session).toMatchObject({ session_id: sid, tokens_used: 1500 });
    expect(status.body.daily.cost_used).toBe(settled.cost);
  });

  it('denies as decisions, always 200: RBAC, budget, unknown agent', async () => {
    const { id, key } = await api.agent('coder');
    const rbac = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'deploy' },
    });
    expect(rbac.status).toBe(200);
    expect(DecisionSchema.parse(rbac.body)).toMatchObject({
      allowed: false,
      error_code: 'RBAC_DENIED',
    });
    await api.call('PUT', `/v1/agents/${id}/budget`, { body: { session_token_limit: 100 } });
    const over = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 101 },
    });
    expect(over.status).toBe(200);
    expect(over.body).toMatchObject({
      allowed: false,
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
    });
    expect(over.body.budget_status.operations_blocked).toBe(2);
    const none = await api.call('POST', '/v1/authorize', {
      body: { agent_id: uid('none'), operation: 'write_file' },
    });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({
      allowed: false,
      error_code: 'AGENT_NOT_FOUND',
      budget_status: null,
    });
  });

  it('is idempotent by request_id; a different request with it is 409 IDEMPOTENCY_CONFLICT', async () => {
    const { id, key } = await api.agent();
    const body = {
      agent_id: id,
      operation: 'write_file',
      estimated_tokens: 500,
      request_id: 'req-1',
    };
    const a = await api.call('POST', '/v1/authorize', { token: key, body });
    const b = await api.call('POST', '/v1/authorize', { token: key, body });
    expect(b.body.reservation_id).toBe(a.body.reservation_id);
    expect(b.body.budget_status.session.tokens_reserved).toBe(500);
    const c = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { ...body, estimated_tokens: 600 },
    });
    expect(c.status).toBe(409);
    expect(isError(c, 'IDEMPOTENCY_CONFLICT')).toBe(true);
  });

  it('releases a hold, idempotently; unknown reservations are 404 RESERVATION_NOT_FOUND', async () => {
    const { id, key } = await api.agent();
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 700 },
    });
    const rid = d.body.reservation_id;
    const r = await api.call('POST', '/v1/release', { token: key, body: { reservation_id: rid } });
    expect(r.status).toBe(200);
    const rel = ReleaseResponseSchema.parse(r.body);
    expect(rel).toMatchObject({ outcome: 'released', reservation_id: rid });
    expect(rel.budget_status.session.tokens_reserved).toBe(0);
    const again = await api.call('POST', '/v1/release', { body: { reservation_id: rid } });
    expect(again.body.outcome).toBe('already_closed');
    const unknown = `${id}.0000000000000000`;
    for (const [path, body] of [
      ['/v1/release', { reservation_id: unknown }],
      [
        '/v1/settle',
        { reservation_id: unknown, input_tokens: 1, output_tokens: 1, result: 'failure' },
      ],
    ] as const) {
      for (const token of [key, undefined]) {
        const x = await api.call('POST', path, { token, body });
        expect(x.status).toBe(404);
        expect(isError(x, 'RESERVATION_NOT_FOUND')).toBe(true);
      }
    }
    const ofNobody = await api.call('POST', '/v1/release', {
      body: { reservation_id: `${uid('none')}.0000000000000000` },
    });
    expect(ofNobody.status).toBe(404);
    expect(isError(ofNobody, 'RESERVATION_NOT_FOUND')).toBe(true);
  });

  it('records usage with no hold', async () => {
    const { id, key } = await api.agent();
    const u = await api.call('POST', '/v1/usage', {
      token: key,
      body: {
        agent_id: id,
        operation: 'write_file',
        input_tokens: 1000,
        output_tokens: 0,
        model: 'gpt-4o',
      },
    });
    expect(u.status).toBe(200);
    const usage = UsageResponseSchema.parse(u.body);
    expect(usage.budget_status.session.tokens_used).toBe(1000);
    expect(usage.cost).toBeGreaterThan(0);
    const failure = await api.call('POST', '/v1/usage', {
      body: { agent_id: id, input_tokens: 5, output_tokens: 5, result: 'failure' },
    });
    expect(failure.body.budget_status.session.tokens_used).toBe(1010);
    const none = await api.call('POST', '/v1/usage', {
      body: { agent_id: uid('none'), input_tokens: 5, output_tokens: 5 },
    });
    expect(none.status).toBe(404);
    expect(isError(none, 'NOT_FOUND')).toBe(true);
  });

  it('names the actor in the audit trail: agent for agent keys, admin for the admin token', async () => {
    const { id, key } = await api.agent();
    await api.call('POST', '/v1/usage', {
      token: key,
      body: { agent_id: id, input_tokens: 1, output_tokens: 1 },
    });
    await api.call('POST', `/v1/agents/${id}/suspend`);
    const events = (await api.tg.engine.readOutbox())
      .map((e) => e.fields)
      .filter((f) => f.agent_id === id);
    const actorOf = (type: string) => events.find((f) => f.type === type)?.actor;
    expect(actorOf('agent_registered')).toBe('admin');
    expect(actorOf('usage')).toBe('agent');
    expect(actorOf('agent_suspended')).toBe('admin');
  });
});

describe('exactly once: the ids a caller makes before it sends', () => {
  const newKey = (id: string) => `tg_${id}.${randomBytes(32).toString('base64url')}`;
  const newSid = (id: string) => `${id}.${randomBytes(8).toString('hex')}`;
  const eventsOf = async (id: string, type: string) =>
    (await api.tg.engine.readOutbox())
      .map((e) => e.fields)
      .filter((f) => f.agent_id === id && f.type === type);

  it('POST /v1/usage with a usage_id: sent again it replays (counted once); other values are 409', async () => {
    const { id, key } = await api.agent();
    const body = {
      agent_id: id,
      usage_id: 'use-1',
      operation: 'write_file',
      input_tokens: 100,
      output_tokens: 50,
    };
    const a = await api.call('POST', '/v1/usage', { token: key, body });
    expect(a.status).toBe(200);
    const first = UsageResponseSchema.parse(a.body);
    expect(first.replayed).toBe(false);
    expect(first.cost).toBeGreaterThan(0);
    const b = await api.call('POST', '/v1/usage', { token: key, body });
    expect(b.status).toBe(200);
    expect(UsageResponseSchema.parse(b.body)).toMatchObject({ replayed: true, cost: first.cost });
    expect(b.body.budget_status.session.tokens_used).toBe(150);
    expect(await eventsOf(id, 'usage')).toHaveLength(1);
    const c = await api.call('POST', '/v1/usage', {
      token: key,
      body: { ...body, output_tokens: 51 },
    });
    expect(c.status).toBe(409);
    expect(isError(c, 'IDEMPOTENCY_CONFLICT')).toBe(true);
    // Without a usage_id every record counts (the SDK always sends one).
    const d = await api.call('POST', '/v1/usage', {
      token: key,
      body: { agent_id: id, input_tokens: 1, output_tokens: 1 },
    });
    expect(d.body).toMatchObject({ replayed: false });
    expect(d.body.budget_status.session.tokens_used).toBe(152);
    const bad = await api.call('POST', '/v1/usage', {
      token: key,
      body: { ...body, usage_id: 'not an id' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('body.usage_id');
  });

  it('POST /v1/agents with a client-made api_key: a retry answers 201 with the same body, once', async () => {
    const id = uid('key');
    const apiKey = newKey(id);
    const body = { agent_id: id, role: 'coder', metadata: { team: 'a' }, api_key: apiKey };
    const a = await api.call('POST', '/v1/agents', { body });
    expect(a.status).toBe(201);
    expect(AgentWithKeySchema.parse(a.body)).toMatchObject({ agent_id: id, api_key: apiKey });
    const b = await api.call('POST', '/v1/agents', { body });
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(await eventsOf(id, 'agent_registered')).toHaveLength(1);
    // The key is the agent's.
    expect((await api.call('GET', `/v1/agents/${id}`, { token: apiKey })).status).toBe(200);
    // Another key (or none: the server makes one) for the same agent id: 409.
    for (const other of [{ api_key: newKey(id) }, {}]) {
      const c = await api.call('POST', '/v1/agents', {
        body: { agent_id: id, role: 'coder', ...other },
      });
      expect(c.status).toBe(409);
      expect(isError(c, 'CONFLICT')).toBe(true);
    }
    // A key must be shaped as the server makes them, for this agent.
    const secret = apiKey.slice(apiKey.indexOf('.') + 1);
    for (const bad of [
      newKey(uid('other')),
      `tg_${id}.${secret.slice(0, 42)}`,
      `tg_${id}.${secret.slice(0, 42)}B`,
      `tg_${id}.${secret}=`,
      secret,
    ]) {
      const c = await api.call('POST', '/v1/agents', {
        body: { agent_id: id, role: 'coder', api_key: bad },
      });
      expect(c.status, bad).toBe(400);
      expect(c.body.error.details.issues[0].path).toBe('body.api_key');
    }
  });

  it('POST /v1/agents/:id/sessions with a session_id: a retry answers the same session, ends nothing', async () => {
    const { id, key } = await api.agent();
    const sid = newSid(id);
    const a = await api.call('POST', `/v1/agents/${id}/sessions`, {
      token: key,
      body: { session_id: sid },
    });
    expect(a.status).toBe(201);
    expect(SessionStartedSchema.parse(a.body).session_id).toBe(sid);
    const started = (await eventsOf(id, 'session_started')).length;
    await api.call('POST', '/v1/usage', {
      token: key,
      body: { agent_id: id, input_tokens: 70, output_tokens: 30 },
    });
    const b = await api.call('POST', `/v1/agents/${id}/sessions`, {
      token: key,
      body: { session_id: sid },
    });
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    const status = await api.call('GET', `/v1/agents/${id}/budget`, { token: key });
    expect(status.body.session).toMatchObject({ session_id: sid, tokens_used: 100 });
    expect(await eventsOf(id, 'session_started')).toHaveLength(started);
    for (const bad of [newSid(uid('other')), `${id}.0123456789ABCDEF`, `${id}.0123`]) {
      const c = await api.call('POST', `/v1/agents/${id}/sessions`, {
        token: key,
        body: { session_id: bad },
      });
      expect(c.status, bad).toBe(400);
      expect(c.body.error.details.issues[0].path).toBe('body.session_id');
    }
  });

  it('a decision names whether it replays, and where its hold stands now', async () => {
    const { id, key } = await api.agent();
    const authorize = (request_id: string, operation = 'write_file') =>
      api.call('POST', '/v1/authorize', {
        token: key,
        body: { agent_id: id, operation, estimated_tokens: 400, request_id },
      });
    const a1 = await authorize('req-a');
    expect(DecisionSchema.parse(a1.body)).toMatchObject({
      allowed: true,
      replayed: false,
      reservation_state: 'open',
    });
    const a2 = await authorize('req-a');
    expect(DecisionSchema.parse(a2.body)).toMatchObject({
      allowed: true,
      reservation_id: a1.body.reservation_id,
      expires_at: a1.body.expires_at,
      replayed: true,
      reservation_state: 'open',
    });
    expect(a2.body.budget_status.session.tokens_reserved).toBe(400);
    await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: a1.body.reservation_id,
        input_tokens: 100,
        output_tokens: 100,
        result: 'success',
      },
    });
    expect((await authorize('req-a')).body).toMatchObject({
      replayed: true,
      reservation_state: 'settled',
    });
    const b1 = await authorize('req-b');
    await api.call('POST', '/v1/release', {
      token: key,
      body: { reservation_id: b1.body.reservation_id },
    });
    expect((await authorize('req-b')).body).toMatchObject({
      replayed: true,
      reservation_id: b1.body.reservation_id,
      reservation_state: 'released',
    });
    // A hold whose lease passed.
    const c1 = await authorize('req-c');
    api.tg.engine.setClockOffsetForTests(api.tg.policy.leaseMs + 1000);
    try {
      expect((await authorize('req-c')).body).toMatchObject({
        replayed: true,
        reservation_id: c1.body.reservation_id,
        reservation_state: 'expired',
      });
    } finally {
      api.tg.engine.setClockOffsetForTests(0);
    }
    // A denial replays too, and is counted once.
    const d1 = await authorize('req-d', 'deploy');
    expect(DecisionSchema.parse(d1.body)).toMatchObject({
      allowed: false,
      error_code: 'RBAC_DENIED',
      replayed: false,
    });
    const blocked = d1.body.budget_status.operations_blocked;
    const d2 = await authorize('req-d', 'deploy');
    expect(DecisionSchema.parse(d2.body)).toMatchObject({
      allowed: false,
      error_code: 'RBAC_DENIED',
      replayed: true,
    });
    expect(d2.body.budget_status.operations_blocked).toBe(blocked);
    const none = await api.call('POST', '/v1/authorize', {
      body: { agent_id: uid('none'), operation: 'write_file' },
    });
    expect(DecisionSchema.parse(none.body)).toMatchObject({ allowed: false, replayed: false });
  });

  it('a settle above its hold is recorded as an overrun; past the limit the next authorize is denied', async () => {
    const { id, key } = await api.agent();
    await api.call('PUT', `/v1/agents/${id}/budget`, { body: { session_token_limit: 1500 } });
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 1000 },
    });
    expect(d.body.allowed).toBe(true);
    // Default rates: $3 in, $15 out per million; the hold is priced at the larger.
    const s = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: d.body.reservation_id,
        input_tokens: 1000,
        output_tokens: 1000,
        result: 'success',
      },
    });
    expect(s.status).toBe(200);
    const settled = SettleResponseSchema.parse(s.body);
    expect(settled).toMatchObject({
      outcome: 'settled',
      cost: 0.018,
      overrun_tokens: 1000,
      overrun_cost: 0.003,
    });
    const status = BudgetStatusSchema.parse(settled.budget_status);
    expect(status.session).toMatchObject({ tokens_used: 2000, tokens_overrun: 1000 });
    expect(status.daily.cost_overrun).toBe(0.003);
    expect(status.is_over_limit).toBe(true);
    const next = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 1 },
    });
    expect(next.body).toMatchObject({
      allowed: false,
      error_code: 'BUDGET_EXCEEDED',
      exceeded: 'session',
    });
    // The retry answers the recorded overrun; it is not added twice.
    const again = await api.call('POST', '/v1/settle', {
      token: key,
      body: {
        reservation_id: d.body.reservation_id,
        input_tokens: 1000,
        output_tokens: 1000,
        result: 'success',
      },
    });
    expect(again.body).toMatchObject({
      outcome: 'already_closed',
      cost: 0.018,
      overrun_tokens: 1000,
      overrun_cost: 0.003,
    });
    expect(again.body.budget_status.session.tokens_overrun).toBe(1000);
    // A fresh agent is within its limits.
    const fresh = await api.agent();
    const st = await api.call('GET', `/v1/agents/${fresh.id}/budget`, { token: fresh.key });
    expect(st.body).toMatchObject({
      session: { tokens_overrun: 0 },
      daily: { cost_overrun: 0 },
      is_over_limit: false,
    });
  });

  it('a settle of a released hold is 409 IDEMPOTENCY_CONFLICT, details.recorded saying so', async () => {
    const { id, key } = await api.agent();
    const d = await api.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 500 },
    });
    const rid = d.body.reservation_id;
    await api.call('POST', '/v1/release', { token: key, body: { reservation_id: rid } });
    for (const token of [key, undefined]) {
      const s = await api.call('POST', '/v1/settle', {
        token,
        body: { reservation_id: rid, input_tokens: 10, output_tokens: 10, result: 'success' },
      });
      expect(s.status).toBe(409);
      expect(isError(s, 'IDEMPOTENCY_CONFLICT')).toBe(true);
      expect(s.body.error.details).toMatchObject({
        reservation_id: rid,
        recorded: { state: 'released' },
      });
    }
    const status = await api.call('GET', `/v1/agents/${id}/budget`, { token: key });
    expect(status.body.session).toMatchObject({ tokens_used: 0, tokens_reserved: 0 });
  });
});

describe('settle: priced at the hold', () => {
  let priced: Api;
  beforeAll(async () => {
    priced = await startApi({
      tollgate: {
        policy: { models: { cheap: { input_per_million: 1, output_per_million: 1 } } },
      },
    });
  });
  afterAll(() => priced.close());

  it("a settle's model must be the hold's; without one, the hold's model prices the usage", async () => {
    const { id, key } = await priced.agent();
    const d = await priced.call('POST', '/v1/authorize', {
      token: key,
      body: { agent_id: id, operation: 'write_file', estimated_tokens: 1000, model: 'cheap' },
    });
    expect(d.body.budget_status.daily.cost_reserved).toBe(0.001);
    const settle = (model?: string) =>
      priced.call('POST', '/v1/settle', {
        token: key,
        body: {
          reservation_id: d.body.reservation_id,
          input_tokens: 1000,
          output_tokens: 1000,
          ...(model === undefined ? {} : { model }),
          result: 'success',
        },
      });
    expect(isError(await settle('default'), 'VALIDATION_FAILED')).toBe(true);
    const s = await settle();
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({
      outcome: 'settled',
      cost: 0.002,
      overrun_tokens: 1000,
      overrun_cost: 0.001,
    });
  });

  it('reports each settle that recorded usage to the metrics hook (a replay: not again)', async () => {
    const seen: SettleObservation[] = [];
    const recorder: DecisionRecorder = {
      decision: () => {},
      settled: (o) => seen.push(o),
    };
    const app = express();
    const router = express.Router();
    mountRoutes(router, gateRoutes, {
      tollgate: priced.tg,
      isAdmin: (t) => t === ADMIN,
      bodyLimitBytes: 65_536,
      requestTimeoutMs: 10_000,
      metrics: recorder,
    });
    app.use(router);
    app.use(errorHandler());
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (path: string, body: unknown) =>
      fetch(base + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        // biome-ignore lint/suspicious/noExplicitAny: response JSON, checked by the test
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    try {
      const { id } = await priced.agent('coder');
      const d = await post('/v1/authorize', {
        agent_id: id,
        operation: 'write_file',
        estimated_tokens: 100,
      });
      const body = {
        reservation_id: d.body.reservation_id,
        input_tokens: 150,
        output_tokens: 0,
        result: 'success',
      };
      expect((await post('/v1/settle', body)).status).toBe(200);
      expect((await post('/v1/settle', body)).body.outcome).toBe('already_closed');
      // Default rates: the hold 100 × $15/M = 1500 µ$, the usage 150 × $3/M = 450 µ$.
      expect(seen).toEqual([{ role: 'coder', overrunTokens: 50, overrunMicros: 0 }]);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });
});

describe('request errors', () => {
  it('refuses unknown fields, wrong types, bad ids: 400 VALIDATION_FAILED naming the field', async () => {
    const r = await api.call('POST', '/v1/authorize', {
      body: { agent_id: 'bad id', operation: 'x', estimated_tokens: -1, extra: true },
    });
    expect(r.status).toBe(400);
    expect(isError(r, 'VALIDATION_FAILED')).toBe(true);
    const paths = r.body.error.details.issues.map((i: { path: string }) => i.path).sort();
    expect(paths).toEqual(['body.agent_id', 'body.estimated_tokens', 'body.extra']);
    const q = await api.call('GET', `/v1/agents/${uid('x')}?verbose=1`);
    expect(q.status).toBe(400);
    const p = await api.call('GET', '/v1/agents/a%7Bb%7D');
    expect(p.status).toBe(400);
    expect(p.body.error.details.issues[0].path).toBe('params.id');
    const noBody = await api.call('POST', `/v1/agents/${uid('x')}/suspend`, { body: { why: 1 } });
    expect(noBody.status).toBe(400);
  });

  it('malformed JSON is 400, a body over 64 KiB is 413', async () => {
    const bad = await api.call('POST', '/v1/agents', { raw: '{"agent_id": ' });
    expect(bad.status).toBe(400);
    expect(isError(bad, 'VALIDATION_FAILED')).toBe(true);
    const scalar = await api.call('POST', '/v1/agents', { raw: '"just a string"' });
    expect(scalar.status).toBe(400);
    const big = await api.call('POST', '/v1/agents', {
      raw: JSON.stringify({ agent_id: 'x', role: 'coder', metadata: { pad: 'x'.repeat(70_000) } }),
    });
    expect(big.status).toBe(413);
    expect(isError(big, 'PAYLOAD_TOO_LARGE')).toBe(true);
    const formEncoded = await api.call('POST', '/v1/agents', {
      raw: JSON.stringify({ agent_id: uid('form'), role: 'coder' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(formEncoded.status).toBe(201);
  });

  it('unknown routes and methods are 404 NOT_FOUND', async () => {
    for (const [m, p] of [
      ['GET', '/nope'],
      ['POST', '/v1/audit'],
      ['POST', '/metrics'],
      ['PATCH', '/v1/agents/x/budget'],
      ['GET', '/v1/settle'],
    ] as const) {
      const r = await api.call(m, p);
      expect(r.status, `${m} ${p}`).toBe(404);
      expect(isError(r, 'NOT_FOUND')).toBe(true);
    }
  });

  it('missing or malformed credentials are 401', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Basic abc' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer not-a-key' },
      { authorization: `Bearer ${'x'.repeat(600)}` },
      { authorization: 'Bearer a b' },
    ]) {
      const r = await api.call('GET', '/v1/agents', { token: null, headers });
      expect(r.status).toBe(401);
      expect(isError(r, 'UNAUTHENTICATED')).toBe(true);
    }
    // The caller is known before the body is read: no token, no parsing.
    const unread = await api.call('POST', '/v1/agents', { token: null, raw: '{"broken' });
    expect(unread.status).toBe(401);
    const agentKey = await api.agent();
    const forbidden = await api.call('POST', '/v1/agents', {
      token: agentKey.key,
      raw: '{"broken',
    });
    expect(forbidden.status).toBe(403);
  });
});

describe('operations', () => {
  it('healthz and readyz', async () => {
    const h = await api.call('GET', '/healthz', { token: null });
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'ok' });
    const r = await api.call('GET', '/readyz', { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', engine: 'redis', policy: 'loaded' });
    expect(r.body.audit.engine).toBe('redis');
  });

  it("GET /v1/dashboard: one row per agent, as the guide's dashboard", async () => {
    const a = await api.agent('backend-dev');
    const b = await api.agent('coder');
    await api.call('POST', '/v1/usage', {
      body: { agent_id: a.id, input_tokens: 1000, output_tokens: 1000 },
    });
    await api.call('POST', `/v1/agents/${b.id}/suspend`);
    const r = await api.call('GET', '/v1/dashboard');
    expect(r.status).toBe(200);
    const rows = r.body.agents as { agent_id: string }[];
    const rowA = rows.find((x) => x.agent_id === a.id);
    const rowB = rows.find((x) => x.agent_id === b.id);
    expect(rowA).toMatchObject({
      role: 'backend-dev',
      session_utilization: '2.0%',
      daily_utilization: '0.2%',
      cost_used: '$0.0180',
      operations_blocked: 0,
      status: 'ACTIVE',
      budget_status: { session: { tokens_used: 2000 } },
    });
    expect(rowB).toMatchObject({ role: 'coder', status: 'SUSPENDED' });
    expect((await api.call('GET', '/v1/dashboard', { token: a.key })).status).toBe(403);
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const r = await api.call('GET', '/openapi.json', { token: null });
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/openapi.json',
        '/readyz',
        '/v1/agents',
        '/v1/agents/{id}',
        '/v1/agents/{id}/budget',
        '/v1/agents/{id}/keys',
        '/v1/agents/{id}/pool',
        '/v1/agents/{id}/resume',
        '/v1/agents/{id}/sessions',
        '/v1/agents/{id}/sessions/{sid}',
        '/v1/agents/{id}/suspend',
        '/v1/agents/{id}/verify',
        '/v1/audit',
        '/v1/audit/lag',
        '/v1/authorize',
        '/v1/dashboard',
        '/v1/dashboard/spend',
        '/v1/dashboard/history',
        '/v1/policy',
        '/v1/policy/roles/{role}',
        '/v1/policy/shadow-agents',
        '/v1/pools',
        '/v1/pools/{id}',
        '/v1/release',
        '/v1/settle',
        '/v1/spend',
        '/v1/usage',
        '/v1/webhooks',
        '/v1/webhooks/dead-letters',
        '/v1/webhooks/dead-letters/{id}/retry',
        '/v1/webhooks/{id}',
      ].sort(),
    );
    const authorize = doc.paths['/v1/authorize'].post;
    expect(authorize.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/AuthorizeRequest',
    });
    const req = doc.components.schemas.AuthorizeRequest;
    expect(req.additionalProperties).toBe(false);
    expect(req.required).toEqual(['agent_id', 'operation']);
    expect(req.properties.agent_id.pattern).toBeTypeOf('string');
    expect(Object.keys(authorize.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '409', '413', '503']),
    );
    expect(doc.paths['/v1/agents'].post.responses['403']).toBeDefined();
    expect(
      doc.paths['/v1/agents/{id}/sessions/{sid}'].delete.parameters.map(
        (p: { name: string }) => p.name,
      ),
    ).toEqual(['id', 'sid']);
    expect(
      doc.paths['/v1/agents'].get.parameters.map(
        (p: { name: string; in: string }) => `${p.in}:${p.name}`,
      ),
    ).toEqual(['query:role', 'query:status', 'query:pool_id']);
    expect(doc.components.schemas.Decision.anyOf).toHaveLength(2);
    // A body whose fields are all optional may be left out.
    expect(doc.paths['/v1/agents/{id}/sessions'].post.requestBody.required).toBe(false);
    expect(doc.paths['/v1/agents'].post.requestBody.required).toBe(true);
    expect(Object.keys(doc.paths['/v1/settle'].post.responses)).toContain('409');
    // Every reference resolves.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of new Set(refs)) {
      const name = ref.replace(/^"\$ref":"#\/components\/schemas\//, '').replace(/"$/, '');
      expect(doc.components.schemas[name], ref).toBeDefined();
    }
  });
});
