import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';
import { STATUS_OF } from './errors.js';
import { readable } from './read-token.js';
import type { Route } from './route.js';
import { components } from './routes/shared.schemas.js';

type Json = Record<string, unknown>;

/**
 * The OpenAPI 3.1 document, generated from the route table and the zod
 * schemas the routes parse with (JSON Schema 2020-12 via z.toJSONSchema).
 */
export function buildOpenApi(routes: readonly Route[], version: string): Json {
  const registered = z.toJSONSchema(components, {
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  const schemas: Record<string, Json> = {};
  for (const [id, s] of Object.entries(registered.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s;
    schemas[id] = rest;
  }

  const ref = (schema: z.ZodType): Json => {
    const id = components.get(schema)?.id;
    if (id !== undefined) return { $ref: `#/components/schemas/${id}` };
    const { $schema: _s, ...rest } = z.toJSONSchema(schema) as Json;
    return rest;
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params: Json[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      // What the client sends (a query's transforms, e.g. `allowed=true` to a boolean, are ours).
      const js = z.toJSONSchema(schema, { io: 'input' }) as {
        properties?: Record<string, Json>;
        required?: string[];
      };
      for (const [name, prop] of Object.entries(js.properties ?? {})) {
        const { description, ...propSchema } = prop;
        params.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          ...(description !== undefined ? { description } : {}),
          schema: propSchema,
        });
      }
    }

    const codes = new Set<string>(r.errors);
    const hasInput = r.body !== undefined || params.length > 0 || r.method !== 'get';
    if (hasInput) codes.add('VALIDATION_FAILED');
    if (r.body !== undefined) codes.add('PAYLOAD_TOO_LARGE');
    if (r.auth !== 'open') {
      codes.add('UNAUTHENTICATED');
      codes.add('STORE_UNAVAILABLE');
    }
    if (r.auth !== 'open') codes.add('FORBIDDEN');
    if (r.path === '/readyz') codes.add('STORE_UNAVAILABLE');
    const byStatus = new Map<number, string[]>();
    for (const code of ERROR_CODES) {
      if (!codes.has(code)) continue;
      const status = STATUS_OF[code];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    const responses: Record<string, Json> = {
      [String(r.status)]: {
        description: r.summary,
        content: { 'application/json': { schema: ref(r.response) } },
      },
    };
    for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
      responses[String(status)] = {
        description: list.join(' or '),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }

    const who =
      (r.auth === 'open'
        ? 'Open: no token.'
        : r.auth === 'admin'
          ? 'Admin token only.'
          : 'Admin token, or the API key of the agent this request names.') +
      (r.auth !== 'open' && readable(r.method, r.path) ? ' The read-only token too.' : '');
    const op: Json = {
      operationId: `${r.method}${path.replace(/[{}]/g, '').replace(/(^|[/_-])(\w)/g, (_, _s, c: string) => c.toUpperCase())}`,
      tags: [r.tag],
      summary: r.summary,
      description: [r.description, who].filter(Boolean).join('\n\n'),
      'x-tollgate-auth': r.auth,
      security: r.auth === 'open' ? [] : [{ bearer: [] }],
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(r.body !== undefined
        ? {
            requestBody: {
              // No body is read as `{}`: a body whose fields are all optional may be left out.
              required: !r.body.safeParse({}).success,
              content: { 'application/json': { schema: ref(r.body) } },
            },
          }
        : {}),
      responses,
    };
    paths[path] = { ...(paths[path] ?? {}), [r.method]: op };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate',
      version,
      description:
        'Atomic budget and permission gate for AI agents. JSON is snake_case; money is USD. Errors: {"error":{"code","message","details"}}.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'The admin token; the read-only token (TOLLGATE_READ_TOKEN), which reaches only the GET routes that say so; or an agent’s API key (`tg_<agent_id>.<43 base64url characters>`), which reaches only its own agent.',
        },
      },
    },
  };
}
