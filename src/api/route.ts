import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import { Budget } from '../budget/budget.js';
import { Pools } from '../budget/pools.js';
import type { Engine } from '../engine/types.js';
import { TollgateError } from '../errors.js';
import { Guard } from '../guard/guard.js';
import { Identity } from '../identity/identity.js';
import type { Tollgate } from '../index.js';
import type { DecisionRecorder } from '../metrics/index.js';
import type { Policy } from '../policy/index.js';
import {
  authenticate,
  type Caller,
  requireAdmin,
  requireAgentKey,
  requireSameAgent,
} from './auth.js';
import { type FieldIssue, fieldIssues, validationError } from './errors.js';
import { requireReadable } from './read-token.js';
import { NoBody, NoParams, NoQuery } from './routes/shared.schemas.js';

/**
 * A route is data: method, path, who may call it, the zod schemas of its
 * params, query, body and response, and a handler that gets them parsed.
 * The same table mounts the routes and generates /openapi.json.
 *
 * auth:
 *   open   no token
 *   admin  the admin token only (an agent key: 403)
 *   agent  the admin token, or the key of the agent the request names
 *          (`agentOf`). A key naming another agent is 403 at once (no store
 *          read). An `agentOf` that names no agent (an optional filter left
 *          out) means the caller's own agent for an agent key. With
 *          `verify: 'lookup'` the key is then checked here before the
 *          handler; with `verify: 'engine'` the handler passes the key's
 *          digest to the library, whose engine call checks it in the same
 *          round trip as the decision (a wrong key, or one whose agent is
 *          gone: 401, auth.ts `verifiedByEngine`).
 *
 * The read-only token reaches a route of any of these (open ones need no
 * token) only if it is a GET listed in READ_ROUTES (read-token.ts): 403 otherwise.
 */
export type Auth = 'open' | 'admin' | 'agent';

/**
 * What the gate routes report to (src/metrics): `decision` per answered
 * authorize; `settled`, when implemented, per settle that recorded usage (a
 * replayed settle, `already_closed`, is not reported again).
 */
export type { DecisionRecorder, SettleObservation } from '../metrics/index.js';
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The library parts, per actor, so the audit trail names who called. */
export interface Services {
  engine: Engine;
  policy: Policy;
  identity: Identity;
  budget: Budget;
  guard: Guard;
  pools: Pools;
}

export interface Ctx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Undefined only on open routes. */
  caller: Caller | undefined;
  svc: Services;
  tollgate: Tollgate;
  /** Where the gate routes record their decisions (src/metrics); undefined: not recorded. */
  metrics: DecisionRecorder | undefined;
}

export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  method: Method;
  /** Express path, `:name` for parameters. */
  path: string;
  auth: Auth;
  summary: string;
  description?: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Success status. Default 200. */
  status?: number;
  response: z.ZodType;
  /** Error codes this route can answer with (beyond the ones every route can). */
  errors?: readonly string[];
  /**
   * The agent a request names (auth 'agent'). Undefined (an optional agent
   * filter left out): for an agent key, its own agent; for the admin token, none.
   */
  agentOf?: (input: {
    params: z.output<P>;
    query: z.output<Q>;
    body: z.output<B>;
  }) => string | undefined;
  verify?: 'lookup' | 'engine';
  handler: (ctx: Ctx<z.output<P>, z.output<Q>, z.output<B>>) => Promise<unknown> | unknown;
  /** HTTP headers to send with a result (e.g. `Retry-After` of a rate-limited decision). */
  headers?: (result: never) => Record<string, string> | undefined;
}

/** A route with its types erased, for the table. */
export interface Route {
  method: Method;
  path: string;
  auth: Auth;
  summary: string;
  description: string | undefined;
  tag: string;
  params: z.ZodType;
  query: z.ZodType;
  body: z.ZodType | undefined;
  status: number;
  response: z.ZodType;
  errors: readonly string[];
  agentOf:
    | ((input: { params: unknown; query: unknown; body: unknown }) => string | undefined)
    | undefined;
  verify: 'lookup' | 'engine';
  handler: (ctx: Ctx<unknown, unknown, unknown>) => Promise<unknown> | unknown;
  headers: ((result: unknown) => Record<string, string> | undefined) | undefined;
}

export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  spec: RouteSpec<P, Q, B>,
): Route {
  if (spec.auth === 'agent' && spec.agentOf === undefined) {
    throw new Error(`route ${spec.method} ${spec.path}: auth 'agent' needs agentOf`);
  }
  return {
    method: spec.method,
    path: spec.path,
    auth: spec.auth,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    params: spec.params ?? NoParams,
    query: spec.query ?? NoQuery,
    body: spec.body,
    status: spec.status ?? 200,
    response: spec.response,
    errors: spec.errors ?? [],
    agentOf: spec.agentOf as Route['agentOf'],
    verify: spec.verify ?? 'lookup',
    handler: spec.handler as Route['handler'],
    headers: spec.headers as Route['headers'],
  };
}

export interface MountOptions {
  tollgate: Tollgate;
  isAdmin: (token: string) => boolean;
  /** Compares a Bearer token with the read-only token; undefined: there is none. */
  isReader?: (token: string) => boolean;
  bodyLimitBytes: number;
  /** A request that has not finished by then answers 503 STORE_UNAVAILABLE. */
  requestTimeoutMs: number;
  /** Records each authorize decision (docs/metrics.md). */
  metrics?: DecisionRecorder;
}

function servicesFor(tollgate: Tollgate, actor: 'admin' | 'agent' | 'library'): Services {
  const deps = { engine: tollgate.engine, policy: tollgate.policy, actor };
  return {
    engine: tollgate.engine,
    policy: tollgate.policy,
    identity: new Identity(deps),
    budget: new Budget(deps),
    guard: new Guard(deps),
    pools: new Pools(deps),
  };
}

function parse(route: Route, req: Request): { params: unknown; query: unknown; body: unknown } {
  const issues: FieldIssue[] = [];
  const one = (where: string, schema: z.ZodType, value: unknown): unknown => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    issues.push(...fieldIssues(where, r.error));
    return undefined;
  };
  const params = one('params', route.params, { ...req.params });
  const query = one('query', route.query, { ...(req.query as object) });
  // No body (or an empty one) is `{}`: a route without a body schema takes nothing else.
  const body = one('body', route.body ?? NoBody, req.body === undefined ? {} : req.body);
  if (issues.length > 0) throw validationError(issues);
  return { params, query, body };
}

/** Fails closed: `p`, or 503 STORE_UNAVAILABLE when it has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TollgateError('STORE_UNAVAILABLE', 'The store did not answer in time', {})),
      ms,
    );
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function mountRoutes(router: Router, routes: readonly Route[], opts: MountOptions): void {
  const svc = {
    admin: servicesFor(opts.tollgate, 'admin'),
    agent: servicesFor(opts.tollgate, 'agent'),
    open: servicesFor(opts.tollgate, 'library'),
  };
  // The read-only token reaches only READ_ROUTES, which read: the admin's services, no write.
  const services = { ...svc, reader: svc.admin };
  // Read only after the caller is known: an unauthenticated request is refused unread.
  // Every body is read as JSON whatever its Content-Type (curl -d sends form
  // encoding); objects and arrays only, at most bodyLimitBytes.
  const json = express.json({ limit: opts.bodyLimitBytes, strict: true, type: () => true });
  for (const route of routes) {
    const who = (req: Request, res: Response, next: NextFunction) => {
      if (route.auth !== 'open') {
        const caller = authenticate(req, opts.isAdmin, opts.isReader);
        if (caller.kind === 'reader') requireReadable(route.method, route.path);
        else if (route.auth === 'admin') requireAdmin(caller);
        res.locals.caller = caller;
      }
      next();
    };
    const run = async (req: Request, caller: Caller | undefined): Promise<unknown> => {
      const input = parse(route, req);
      if (caller?.kind === 'agent' && route.auth === 'agent' && route.agentOf) {
        const agentId = route.agentOf(input) ?? caller.agentId;
        // Another agent's key: 403 before any store is read.
        requireSameAgent(caller, agentId);
        // Its own agent: the key must be current (here, or in the deciding script).
        if (route.verify === 'lookup') await requireAgentKey(opts.tollgate.engine, caller, agentId);
      }
      return route.handler({
        ...input,
        caller,
        svc: services[caller?.kind ?? 'open'],
        tollgate: opts.tollgate,
        metrics: opts.metrics,
      });
    };
    router[route.method](route.path, who, json, async (req: Request, res: Response) => {
      const caller = res.locals.caller as Caller | undefined;
      const result = await withTimeout(run(req, caller), opts.requestTimeoutMs);
      const headers = route.headers?.(result);
      if (headers !== undefined) res.set(headers);
      res.status(route.status).json(result);
    });
  }
}
