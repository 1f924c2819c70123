import {
  type PolicyChange,
  type PolicyFieldChange,
  type PolicyWarning,
  TollgateApiError,
} from '../../client/index.js';
import { loadPolicy, PolicyError, readPolicyFile } from '../../policy/index.js';
import { pairs } from '../format.js';
import { integer, jsonObject } from '../options.js';
import {
  apiErrorLine,
  CliConfigError,
  type Command,
  type CommandContext,
  type Group,
  UsageError,
} from '../remote.js';

/**
 * `tollgate policy …` (docs/cli.md): `check` a file here, with no server;
 * `get`, `set`, `diff`, `set-role` and `shadow-agents` the policy in force on
 * a running API (GET, PUT, PUT ?dry_run=true, PATCH /v1/policy…, PUT
 * /v1/policy/shadow-agents; admin token).
 */

/** `policy diff`'s exit codes, as diff(1)'s: 0 no differences, 1 differences, 2 trouble. */
export const DIFF_EXIT = { same: 0, different: 1, trouble: 2 } as const;

/** A field's value in a change line; absent (the field is new, or gone) as `(absent)`. */
function value(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

export function changeLines(changes: readonly PolicyFieldChange[]): string[] {
  return changes.map((c) => `  ${c.path}: ${value(c.before)} → ${value(c.after)}`);
}

export function warningLines(warnings: readonly PolicyWarning[]): string[] {
  return warnings.map((w) => `  ${w.path}: ${w.message}`);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Shadow mode in a policy document (docs/operations.md): the roles and the agents in it. */
function shadowOf(doc: Record<string, unknown>): { roles: string[]; agents: string[] } {
  const roles = Object.entries((doc.roles ?? {}) as Record<string, { shadow?: unknown }>)
    .filter(([, entry]) => entry?.shadow === true)
    .map(([role]) => role)
    .sort();
  return { roles, agents: [...((doc.shadow_agents ?? []) as string[])] };
}

/** The `shadow` line of `policy check` and `policy get`. */
function shadowLine(s: { roles: readonly string[]; agents: readonly string[] }): string {
  if (s.roles.length === 0 && s.agents.length === 0) return 'none';
  return `roles ${s.roles.join(', ') || '(none)'}; agents ${s.agents.join(', ') || '(none)'}`;
}

/** A policy file's document as written; empty (YAML `null`) is the defaults: `{}`. */
async function readDocument(file: string): Promise<Record<string, unknown>> {
  const doc = await readPolicyFile(file);
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    const got = Array.isArray(doc) ? 'a list' : typeof doc;
    throw new PolicyError(`${file}: a policy document is a mapping, got ${got}`, [
      { path: '', message: `expected a mapping, got ${got}` },
    ]);
  }
  return doc as Record<string, unknown>;
}

const CHANGE_OPTIONS = {
  'expected-version': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

const CHANGE_HELP = [
  '  --expected-version <n>   the version the change is made on (`tollgate policy get`);',
  '                           another in force: CONFLICT, nothing changes',
  '  --dry-run                check and compare only: nothing changes',
].join('\n');

function changeOptions({ option, flag }: CommandContext) {
  return {
    expectedVersion: integer('--expected-version', option('expected-version'), 0, 999_999_999),
    dryRun: flag('dry-run'),
  };
}

/** What `set` and `set-role` print: the version, the changes, the warnings, the agents and pools. */
function changeReport(r: PolicyChange, what: string): string[] {
  const head = r.dry_run
    ? `Dry run, nothing changed: ${what} would change ${plural(r.changes.length, 'field')} of version ${r.version}${r.changes.length > 0 ? ':' : '.'}`
    : r.changed
      ? `Policy version ${r.version} set (was ${r.previous_version}): ${plural(r.changes.length, 'field')} changed:`
      : `No change: ${what} equals the policy in force (version ${r.version}); nothing stored.`;
  const pools = [
    ...(r.pools.created.length > 0 ? [`created ${r.pools.created.join(', ')}`] : []),
    ...(r.pools.updated.length > 0 ? [`updated ${r.pools.updated.join(', ')}`] : []),
  ];
  return [
    head,
    ...changeLines(r.changes),
    ...(r.warnings.length > 0
      ? [`${plural(r.warnings.length, 'warning')}:`, ...warningLines(r.warnings)]
      : []),
    ...(r.dry_run
      ? []
      : [
          `Agents updated: ${r.agents_updated}${r.agents_failed > 0 ? `; failed (they keep their limits): ${r.agents_failed}` : ''}`,
          ...(pools.length > 0 ? [`Pools: ${pools.join('; ')}`] : []),
        ]),
  ];
}

const check: Command = {
  spec: {
    usage: 'tollgate policy check <file>',
    description: [
      'Validates a policy file (JSON or YAML) and prints what it resolves to: its',
      'roles, the reservation lease and the models it prices, and its warnings',
      '(permissions naming an unknown operation, with the nearest known name; roles',
      'of the guide with no operation), the roles and agents in shadow mode, the',
      'budget alert thresholds and the pools it declares. A bad file prints each',
      'bad field by its path and exits 1. Needs no server.',
    ].join('\n'),
    args: ['file'],
    auth: 'local',
    example: 'tollgate policy check policy.yaml',
  },
  async action({ out, args, json, exit }) {
    const file = args[0] ?? '';
    try {
      const policy = await loadPolicy(file);
      const summary = {
        roles: policy.knownRoles(),
        lease_ms: policy.leaseMs,
        models: Object.keys(policy.doc.models),
        shadow: { roles: [...policy.shadow.roles], agents: [...policy.shadow.agents] },
        alert_thresholds: [...policy.alerts.pcts],
        pools: policy.pools.map((p) => p.poolId),
      };
      const warnings = policy.warnings.map(({ code, path, message }) => ({ code, path, message }));
      if (json) return out.json({ file, valid: true, ...summary, warnings });
      out.line(
        warnings.length === 0
          ? `${file}: valid`
          : `${file}: valid, with ${plural(warnings.length, 'warning')}:`,
      );
      for (const l of warningLines(warnings)) out.line(l);
      out.json(summary);
    } catch (e) {
      if (e instanceof PolicyError) {
        out.error(e.message);
        return exit(1);
      }
      throw e;
    }
  },
};

const get: Command = {
  spec: {
    usage: 'tollgate policy get',
    description: [
      'The policy in force on the server (GET /v1/policy): its version (0: none set',
      'at runtime), where it came from, who set it and when, its warnings, the',
      'roles and agents in shadow mode, and the merged document.',
    ].join('\n'),
    args: [],
    example: 'tollgate policy get --json | jq .policy',
  },
  async action({ out, json, client }) {
    const s = await client().getPolicy();
    if (json) return out.json(s);
    for (const l of pairs([
      ['version', String(s.version)],
      ['source', s.source],
      ['set by', s.set_by],
      ['set at', s.set_at ?? '(not set at runtime)'],
      ['file', s.file ?? '(none)'],
      ['warnings', s.warnings.length === 0 ? 'none' : String(s.warnings.length)],
      ['shadow', shadowLine(shadowOf(s.policy))],
    ])) {
      out.line(l);
    }
    for (const l of warningLines(s.warnings)) out.line(l);
    out.line('policy:');
    out.json(s.policy);
  },
};

const set: Command = {
  spec: {
    usage: 'tollgate policy set <file> [--expected-version <n>] [--dry-run]',
    description: [
      'Makes a policy file (JSON or YAML) the policy in force (PUT /v1/policy): the',
      'document as written (an empty file: the defaults), merged by the server onto',
      'its built-in defaults, checked as a whole (every problem at once; nothing',
      'applied), stored as the next version and applied by every API process within',
      'about a second. Prints the fields changed, the warnings and the agents that',
      "took their role's new limits.",
    ].join('\n'),
    args: ['file'],
    options: CHANGE_OPTIONS,
    optionsHelp: CHANGE_HELP,
    example: 'tollgate policy set policy.yaml --expected-version 3',
  },
  async action(ctx) {
    const { out, args, json, client, exit } = ctx;
    const file = args[0] ?? '';
    const opts = changeOptions(ctx);
    let doc: Record<string, unknown>;
    try {
      doc = await readDocument(file);
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      out.error(e.message);
      return exit(1);
    }
    const r = await client().setPolicy(doc, opts);
    if (json) return out.json(r);
    for (const l of changeReport(r, file)) out.line(l);
  },
};

const diff: Command = {
  spec: {
    usage: 'tollgate policy diff <file>',
    description: [
      'What `tollgate policy set <file>` would change in the policy in force (PUT',
      '/v1/policy?dry_run=true: nothing changes): each field, before → after, and',
      "the warnings. Exit codes as diff(1)'s: 0 no differences, 1 differences,",
      '2 trouble (a bad file or line, the API refused, or could not be reached).',
    ].join('\n'),
    args: ['file'],
    example: 'tollgate policy diff policy.yaml',
  },
  async action({ out, args, json, client, exit }) {
    const file = args[0] ?? '';
    let r: PolicyChange;
    try {
      r = await client().setPolicy(await readDocument(file), { dryRun: true });
    } catch (e) {
      // A bad command line or connection is a usage error (2) already.
      if (e instanceof UsageError || e instanceof CliConfigError || !(e instanceof Error)) throw e;
      out.error(e instanceof TollgateApiError ? apiErrorLine(e) : e.message);
      return exit(DIFF_EXIT.trouble);
    }
    exit(r.changes.length === 0 ? DIFF_EXIT.same : DIFF_EXIT.different);
    if (json) return out.json(r);
    if (r.changes.length === 0) {
      out.line(`${file}: no differences from the policy in force (version ${r.version}).`);
    } else {
      out.line(
        `${file}: ${plural(r.changes.length, 'field')} differ from the policy in force (version ${r.version}), before → after:`,
      );
      for (const l of changeLines(r.changes)) out.line(l);
    }
    if (r.warnings.length > 0) {
      out.line(`${plural(r.warnings.length, 'warning')}:`);
      for (const l of warningLines(r.warnings)) out.line(l);
    }
  },
};

const setRole: Command = {
  spec: {
    usage: 'tollgate policy set-role <role> <json> [--expected-version <n>] [--dry-run]',
    description: [
      'Changes one role of the policy in force (PATCH /v1/policy/roles/:role): the',
      "JSON object's fields, as `roles.<role>` of a policy file, replace the role's",
      '(`permissions` and `models` replace the lists); a role the policy does not',
      'name is added (it needs session_token_limit and daily_cost_limit). Then as',
      '`tollgate policy set`.',
    ].join('\n'),
    args: ['role', 'json'],
    options: CHANGE_OPTIONS,
    optionsHelp: CHANGE_HELP,
    example: `tollgate policy set-role coder '{"permissions":["read_file","deploy"]}'`,
  },
  async action(ctx) {
    const { out, args, json, client } = ctx;
    const role = args[0] ?? '';
    const entry = jsonObject('<json>', args[1]) ?? {};
    const r = await client().setPolicyRole(role, entry, changeOptions(ctx));
    if (json) return out.json(r);
    for (const l of changeReport(r, `role ${role}`)) out.line(l);
  },
};

const shadowAgents: Command = {
  spec: {
    usage: 'tollgate policy shadow-agents <ids> [--expected-version <n>] [--dry-run]',
    description: [
      'Sets the agents in shadow mode (PUT /v1/policy/shadow-agents): <ids>, agent',
      'ids separated by commas ("" for none), replace the policy\'s shadow_agents.',
      'Their denials, but a suspension, are let pass, held as allowed, audited and',
      'counted as would_deny (docs/operations.md, "Shadow mode"). A role goes in',
      'shadow mode with `tollgate policy set-role <role> \'{"shadow":true}\'`. Then as',
      '`tollgate policy set`.',
    ].join('\n'),
    args: ['ids'],
    options: CHANGE_OPTIONS,
    optionsHelp: CHANGE_HELP,
    example: 'tollgate policy shadow-agents coder-7,coder-9',
  },
  async action(ctx) {
    const { out, args, json, client } = ctx;
    const ids = (args[0] ?? '')
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== '');
    const r = await client().setShadowAgents(ids, changeOptions(ctx));
    if (json) return out.json(r);
    for (const l of changeReport(r, 'the shadow agents')) out.line(l);
  },
};

export const POLICY: Group = {
  name: 'policy',
  summary:
    'The policy (docs/policy.md): `check` validates a file here (no server); `get`, `set`,\n`diff`, `set-role` and `shadow-agents` read and change the policy in force on a running API.',
  commands: new Map<string, Command>([
    ['check', check],
    ['get', get],
    ['set', set],
    ['diff', diff],
    ['set-role', setRole],
    ['shadow-agents', shadowAgents],
  ]),
};
