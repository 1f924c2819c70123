import { pairs, tokens, usd } from '../format.js';
import type { Command, Group } from '../remote.js';

/** `tollgate sessions start|end`: an agent's sessions (the admin token, or the agent's key). */

const start: Command = {
  spec: {
    usage: 'tollgate sessions start <agent> [--session-id <id>]',
    description: [
      'Starts a new session for the agent (a fresh session budget); the current one',
      'ends and its open holds move into the new one (POST /v1/agents/:id/sessions).',
    ].join('\n'),
    args: ['agent'],
    options: { 'session-id': { type: 'string' } },
    optionsHelp:
      "  --session-id <id>   the new session's id (<agent>.<16 hex>; default: made here),\n                      so that running it again starts nothing more",
    example: 'tollgate sessions start coder-7',
  },
  async action({ out, args, option, json, client }) {
    const agent = args[0] ?? '';
    const s = await client().startSession(agent, option('session-id'));
    if (json) return out.json(s);
    out.line(`Started session ${s.session_id} for ${agent} at ${s.started_at}.`);
  },
};

const end: Command = {
  spec: {
    usage: 'tollgate sessions end <agent> [<session-id>]',
    description: [
      "Ends the agent's current session (or the one named, which must be the current",
      'one) and prints its summary; a new session opens at once',
      '(DELETE /v1/agents/:id/sessions/:sid).',
    ].join('\n'),
    args: ['agent'],
    optionalArgs: ['session-id'],
    example: 'tollgate sessions end coder-7',
  },
  async action({ out, args, json, client }) {
    const [agent = '', named] = args;
    // No session named: the current one, from the agent's budget status.
    const sid = named ?? (await client().getBudgetStatus(agent)).session.session_id;
    const s = await client().endSession(agent, sid);
    if (json) return out.json(s);
    out.line(`Ended session ${s.session_id} of ${s.agent_id}.`);
    for (const l of pairs([
      ['started', s.started_at],
      ['ended', s.ended_at],
      ['tokens used', tokens(s.tokens_used)],
      ['cost', usd(s.cost_incurred)],
      ['blocked', tokens(s.operations_blocked)],
      ['next session', s.next_session_id],
    ])) {
      out.line(l);
    }
  },
};

export const SESSIONS: Group = {
  name: 'sessions',
  summary: "Start and end an agent's sessions (the admin token, or the agent's own key).",
  commands: new Map<string, Command>([
    ['start', start],
    ['end', end],
  ]),
};
