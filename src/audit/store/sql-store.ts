import type { AuditEvent } from '../event.js';
import type { Db } from './db.js';
import { migrate } from './migrations.js';
import { type PolicyVersionStore, policyVersionStore } from './policies.js';
import { pools } from './pools.js';
import * as q from './queries.js';
import { spendBy, spendByHour, spendHistory } from './spend.js';
import type {
  AgentTotals,
  AuditFilter,
  AuditPage,
  AuditStore,
  HourlySpend,
  SessionSummaryRow,
  SpendHistory,
  SpendHistoryQuery,
  SpendQuery,
  SpendRow,
  StoredAgent,
  StoredPool,
} from './types.js';
import { type WebhookStore, webhookStore } from './webhooks.js';

/** Where a SqlStore sends each kind of statement. */
export interface StoreDbs {
  /** Writes: insertEvents and the migrations. */
  db: Db;
  /** The API's reads: queryEvents, sessionSummaries, spendByHour, spendBy, spendHistory. Default: db. */
  reads?: Db;
  /** Recovery's reads: agents, totals, pools (the RecoverySource, the embedded restore). Default: db. */
  recovery?: Db;
}

/**
 * The AuditStore over any Db: PostgresStore and PGliteStore differ only in how
 * they connect. PostgresStore gives each kind of statement a pool of its own;
 * PGlite has one connection for all.
 */
export class SqlStore implements AuditStore {
  protected readonly db: Db;
  private readonly reads: Db;
  private readonly recovery: Db;
  readonly webhooks: WebhookStore;
  readonly policies: PolicyVersionStore;

  constructor(
    readonly kind: AuditStore['kind'],
    dbs: Db | StoreDbs,
    private readonly schema?: string,
  ) {
    const d: StoreDbs = 'db' in dbs ? dbs : { db: dbs };
    this.db = d.db;
    this.reads = d.reads ?? d.db;
    this.recovery = d.recovery ?? d.db;
    this.webhooks = webhookStore(this.db, this.reads);
    this.policies = policyVersionStore(this.db, this.reads);
  }

  async migrate(): Promise<void> {
    await migrate(this.db, this.schema === undefined ? {} : { schema: this.schema });
  }

  insertEvents(events: readonly AuditEvent[]): Promise<number> {
    return q.insertEvents(this.db, events);
  }

  queryEvents(filter: AuditFilter): Promise<AuditPage> {
    return q.queryEvents(this.reads, filter);
  }

  agents(): Promise<StoredAgent[]> {
    return q.agents(this.recovery);
  }

  totals(atMs: number, zones?: Iterable<string>): Promise<AgentTotals[]> {
    return q.totals(this.recovery, atMs, zones);
  }

  pools(atMs: number): Promise<StoredPool[]> {
    return pools(this.recovery, atMs);
  }

  sessionSummaries(agentId: string): Promise<SessionSummaryRow[]> {
    return q.sessionSummaries(this.reads, agentId);
  }

  spendByHour(dayStart: number): Promise<HourlySpend[]> {
    return spendByHour(this.reads, dayStart);
  }

  spendBy(q: SpendQuery): Promise<SpendRow[]> {
    return spendBy(this.reads, q);
  }

  spendHistory(q: SpendHistoryQuery): Promise<SpendHistory> {
    return spendHistory(this.reads, q);
  }

  async close(): Promise<void> {
    const all = [...new Set([this.db, this.reads, this.recovery])];
    const results = await Promise.allSettled(all.map((d) => d.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Applies the migrations to a store just opened; closes it if they fail. */
export async function migrated<T extends SqlStore>(store: T): Promise<T> {
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
