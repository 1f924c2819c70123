import type { Command } from '../remote.js';

/** `tollgate health|ready|openapi|metrics`: the operations routes (no token needed but for metrics). */

export const health: Command = {
  spec: {
    usage: 'tollgate health',
    description: 'Whether the server process is up (GET /healthz; no token needed).',
    args: [],
    auth: 'open',
    example: 'tollgate health --url http://localhost:8080',
  },
  async action({ out, json, client }) {
    const h = await client().health();
    if (json) return out.json(h);
    out.line(`Up: status ${h.status}.`);
  },
};

export const ready: Command = {
  spec: {
    usage: 'tollgate ready',
    description: [
      'Whether the server is ready (GET /readyz; no token needed): the engine answers',
      'and the policy is loaded; with the audit backlog and the drain. Not ready:',
      'STORE_UNAVAILABLE, exit 1.',
    ].join('\n'),
    args: [],
    auth: 'open',
    example: 'tollgate ready --json',
  },
  async action({ out, json, client }) {
    const r = await client().ready();
    if (json) return out.json(r);
    const backlog =
      'error' in r.audit
        ? r.audit.error
        : `${r.audit.backlog} event${r.audit.backlog === 1 ? '' : 's'} not yet stored`;
    out.line(
      `Ready: ${r.engine} engine, policy ${r.policy}, drain ${r.drain.status}; audit: ${backlog}.`,
    );
  },
};

export const openapi: Command = {
  spec: {
    usage: 'tollgate openapi',
    description:
      "Prints the server's OpenAPI 3.1 document (GET /openapi.json; no token needed),\nalways as JSON.",
    args: [],
    auth: 'open',
    example: 'tollgate openapi > openapi.json',
  },
  async action({ out, client }) {
    out.json(await client().openapi());
  },
};

export const metrics: Command = {
  spec: {
    usage: 'tollgate metrics',
    description: [
      "Prints the server's Prometheus metrics (GET /metrics), in Prometheus' text",
      'format (--json: {"text": …}). The admin token, unless the server serves them open.',
    ].join('\n'),
    args: [],
    auth: 'open',
    example: 'tollgate metrics | grep tollgate_decisions',
  },
  async action({ out, json, client }) {
    const text = await client().metrics();
    if (json) return out.json({ text });
    out.line(text.replace(/\n$/, ''));
  },
};
