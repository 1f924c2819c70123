import { randomBytes } from 'node:crypto';
import { eventId, eventTailOf } from '../../engine/random.js';
import { TollgateError } from '../../errors.js';
import type { AuditEvent, PolicyChangeSummary } from '../event.js';
import { EVENT_VERSION } from '../event-types.js';
import type { Db } from './db.js';
import { insertEvents } from './insert.js';

/**
 * The policy's versions in the store (migration 7; src/policy-store applies
 * them): each `PUT /v1/policy` (or `tg.policies.set`) stores the whole merged
 * document as the next version, with who set it and when, and its
 * `policy_changed` audit event, in one transaction. Every API process polls
 * `currentVersion` and loads a newer one. Times are ms of the process clock
 * of the process that stored it.
 */

/** One stored version of the policy. */
export interface StoredPolicy {
  /** 1, 2, …: one more than the version before. */
  version: number;
  /** The merged document (snake_case, as `policy.doc`), as stored. */
  doc: unknown;
  /** Who set it: `admin` through the API, the library's actor, or a name given to `set`. */
  actor: string;
  /** ms, when it was stored (the storing process's clock). */
  at: number;
  /** The id of its `policy_changed` event. */
  eventId: string;
}

export interface NewPolicyVersion {
  doc: unknown;
  actor: string;
  /** ms. */
  at: number;
  /** The newest version must be this one (0: none stored yet), else CONFLICT and nothing stored. */
  expectedVersion: number;
  /** What changed since `expectedVersion` (the event carries it). */
  summary: Omit<PolicyChangeSummary, 'version' | 'previous_version'>;
}

export interface PolicyVersionStore {
  /** The newest version's number; 0 when none is stored. One index probe: what each process polls. */
  currentVersion(): Promise<number>;
  /** The newest version, or null when none is stored. */
  current(): Promise<StoredPolicy | null>;
  /**
   * Stores `doc` as version `expectedVersion + 1` and its `policy_changed`
   * event (agent_id '', the actor, `policy`: the versions and the changes), in
   * one transaction under an advisory lock; CONFLICT (nothing stored) when
   * the newest version is not `expectedVersion`.
   */
  save(v: NewPolicyVersion): Promise<StoredPolicy>;
}

/** The methods of PolicyVersionStore (lazyStore wraps each one). */
export const POLICY_STORE_METHODS = ['currentVersion', 'current', 'save'] as const;

/** Key of the transaction-level advisory lock that serialises policy versions ('tgpolicy', positive). */
export const POLICY_LOCK = 0x7467706f6c696379n & 0x7fffffffffffffffn;

const CURRENT_VERSION = 'SELECT coalesce(max(version), 0)::int AS version FROM policy_versions';
const CURRENT = `SELECT version, doc, actor, at, event_id FROM policy_versions
 ORDER BY version DESC LIMIT 1`;
const INSERT = `INSERT INTO policy_versions (version, doc, actor, at, event_id)
 VALUES ($1, $2::jsonb, $3, $4, $5)`;

/** A jsonb column: an object from PGlite and pg (parsed), its text if not parsed. */
function jsonOf(v: unknown): unknown {
  return typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
}

function toStored(r: Record<string, unknown>): StoredPolicy {
  return {
    version: Number(r.version),
    doc: jsonOf(r.doc),
    actor: String(r.actor),
    at: Number(r.at),
    eventId: String(r.event_id),
  };
}

/** A UUIDv7 at `ms`, as the engine makes event ids (src/engine/random.ts). */
function newEventId(ms: number): string {
  return eventId(ms, eventTailOf(randomBytes(9)), 0);
}

/** The `policy_changed` event of a version: no agent (''), every agent field null. */
export function policyChangedEvent(
  stored: StoredPolicy,
  previousVersion: number,
  summary: NewPolicyVersion['summary'],
): AuditEvent {
  return {
    v: EVENT_VERSION,
    event_id: stored.eventId,
    at: stored.at,
    type: 'policy_changed',
    agent_id: '',
    actor: stored.actor,
    session_id: null,
    role: null,
    operation: null,
    allowed: null,
    error_code: null,
    exceeded: null,
    estimated_tokens: null,
    input_tokens: null,
    output_tokens: null,
    cost: null,
    model: null,
    reservation_id: null,
    request_id: null,
    result: null,
    session_utilization: null,
    daily_utilization: null,
    tokens_used: null,
    operations_blocked: null,
    session_started_at: null,
    state: null,
    overrun_tokens: null,
    overrun_cost: null,
    estimated: null,
    priced_as: null,
    policy: { version: stored.version, previous_version: previousVersion, ...summary },
  };
}

/** The statements on `policy_versions`: writes on `db`, the poll and reads on `reads`. */
export function policyVersionStore(db: Db, reads: Db = db): PolicyVersionStore {
  return {
    async currentVersion() {
      const rows = await reads.query<{ version: number }>(
        CURRENT_VERSION,
        [],
        'tollgate_policy_version_v1',
      );
      return Number(rows[0]?.version ?? 0);
    },
    async current() {
      const rows = await reads.query(CURRENT, [], 'tollgate_policy_current_v1');
      const row = rows[0];
      return row === undefined ? null : toStored(row);
    },
    save(v) {
      return db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [POLICY_LOCK.toString()]);
        const rows = await tx.query<{ version: number }>(CURRENT_VERSION);
        const newest = Number(rows[0]?.version ?? 0);
        if (newest !== v.expectedVersion) {
          throw new TollgateError(
            'CONFLICT',
            `The policy is at version ${newest}, not ${v.expectedVersion}: read it again (GET /v1/policy) and send the change on it`,
            { version: newest, expected_version: v.expectedVersion },
          );
        }
        const stored: StoredPolicy = {
          version: newest + 1,
          doc: v.doc,
          actor: v.actor,
          at: v.at,
          eventId: newEventId(v.at),
        };
        await tx.command(INSERT, [
          stored.version,
          JSON.stringify(v.doc),
          stored.actor,
          stored.at,
          stored.eventId,
        ]);
        await insertEvents(tx, [policyChangedEvent(stored, newest, v.summary)]);
        return stored;
      });
    },
  };
}
