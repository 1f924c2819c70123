import { table } from '../format.js';
import { integer, required } from '../options.js';
import type { Command, Group } from '../remote.js';

/** `tollgate webhooks …`: where budget alerts go, and the deliveries that failed (admin token). */

const list: Command = {
  spec: {
    usage: 'tollgate webhooks list',
    description:
      'Lists the webhooks budget alerts are sent to, oldest first (never their secrets).',
    args: [],
    example: 'tollgate webhooks list --json',
  },
  async action({ out, json, client }) {
    const { webhooks } = await client().listWebhooks();
    if (json) return out.json({ webhooks });
    if (webhooks.length === 0) {
      out.line('No webhooks.');
      return;
    }
    for (const l of table([
      ['ID', 'URL', 'EVENTS', 'CREATED'],
      ...webhooks.map((w) => [w.id, w.url, w.events.join(','), w.created_at]),
    ])) {
      out.line(l);
    }
  },
};

const add: Command = {
  spec: {
    usage: 'tollgate webhooks add <url> --secret <secret> [--events budget_alert]',
    description: [
      'Registers a webhook: budget alerts are POSTed to <url>, signed with the secret',
      '(HMAC-SHA256, the Tollgate-Signature header). The secret is never shown again.',
      'Note that a --secret on the command line is visible to other users of the',
      'machine (ps): prefer --secret "$(cat secret-file)" in a script.',
    ].join('\n'),
    args: ['url'],
    options: { secret: { type: 'string' }, events: { type: 'string' } },
    optionsHelp: [
      '  --secret <secret>    signs every delivery, 16-256 characters (required)',
      '  --events <list>      comma-separated event types (default budget_alert)',
    ].join('\n'),
    example: 'tollgate webhooks add https://ops.example.com/tollgate --secret "$(cat hook.secret)"',
  },
  async action({ out, args, option, json, client }) {
    const events = (option('events') ?? 'budget_alert').split(',').map((e) => e.trim());
    const w = await client().createWebhook({
      url: args[0] ?? '',
      secret: required('--secret', option('secret'), '--secret <secret>'),
      events: events as ['budget_alert'],
    });
    if (json) return out.json(w);
    out.line(`Registered webhook ${w.id}: ${w.events.join(', ')} to ${w.url}.`);
  },
};

const remove: Command = {
  spec: {
    usage: 'tollgate webhooks delete <id>',
    description:
      'Deletes a webhook: nothing more is sent to it; its pending deliveries and dead\nletters go with it.',
    args: ['id'],
    example: 'tollgate webhooks delete wh_0123456789abcdef01234567',
  },
  async action({ out, args, json, client }) {
    const r = await client().deleteWebhook(args[0] ?? '');
    if (json) return out.json(r);
    out.line(`Deleted webhook ${r.id}.`);
  },
};

const deadLetters: Command = {
  spec: {
    usage: 'tollgate webhooks dead-letters [--limit <n>]',
    description:
      'Lists the deliveries whose every attempt failed, the latest first, with the\nreceiver’s last answer. `tollgate webhooks retry <id>` sends one again.',
    args: [],
    options: { limit: { type: 'string' } },
    optionsHelp: '  --limit <n>   how many, 1-1000 (default 100)',
    example: 'tollgate webhooks dead-letters --limit 20',
  },
  async action({ out, option, json, client }) {
    const limit = integer('--limit', option('limit'), 1, 1000);
    const { dead_letters: rows } = await client().listDeadLetters(
      limit === undefined ? {} : { limit },
    );
    if (json) return out.json({ dead_letters: rows });
    if (rows.length === 0) {
      out.line('No dead letters.');
      return;
    }
    for (const l of table([
      ['ID', 'ATTEMPTS', 'LAST STATUS', 'FAILED', 'LAST ERROR'],
      ...rows.map((d) => [
        d.id,
        String(d.attempts),
        d.last_status === null ? 'no answer' : String(d.last_status),
        d.failed_at,
        d.last_error ?? '',
      ]),
    ])) {
      out.line(l);
    }
  },
};

const retry: Command = {
  spec: {
    usage: 'tollgate webhooks retry <delivery-id>',
    description:
      'Sends a dead letter again: a new run of the delivery, with the same event and\nthe same retries (CONFLICT when it is not a dead letter).',
    args: ['delivery-id'],
    example:
      'tollgate webhooks retry 01a21767-1012-7a92-9e7b-b8e1164aef00.wh_0123456789abcdef01234567',
  },
  async action({ out, args, json, client }) {
    const r = await client().retryDeadLetter(args[0] ?? '');
    if (json) return out.json(r);
    out.line(`Delivery ${r.id} is ${r.status} again (run ${r.run}).`);
  },
};

export const WEBHOOKS: Group = {
  name: 'webhooks',
  summary: 'Where budget alerts are sent, and the deliveries that failed (the admin token).',
  commands: new Map<string, Command>([
    ['list', list],
    ['add', add],
    ['delete', remove],
    ['dead-letters', deadLetters],
    ['retry', retry],
  ]),
};
