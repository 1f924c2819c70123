import type { AuditEvent } from '../event.js';
import type { Db } from './db.js';
import { migrate } from './migrations.js';
import * as q from './queries.js';
import { spendByHour } from './spend.js';
import type {
  AgentTotals,
  AuditFilter,
  AuditPage,
  AuditStore,
  HourlySpend,
  SessionSummaryRow,
  StoredAgent,
} from './types.js';

/** The AuditStore over any Db: PostgresStore and PGliteStore differ only in how they connect. */
export class SqlStore implements AuditStore {
  constructor(
    readonly kind: AuditStore['kind'],
    protected readonly db: Db,
    private readonly schema?: string,
  ) {}

  async migrate(): Promise<void> {
    await migrate(this.db, this.schema === undefined ? {} : { schema: this.schema });
  }

  insertEvents(events: readonly AuditEvent[]): Promise<number> {
    return q.insertEvents(this.db, events);
  }

  queryEvents(filter: AuditFilter): Promise<AuditPage> {
    return q.queryEvents(this.db, filter);
  }

  agents(): Promise<StoredAgent[]> {
    return q.agents(this.db);
  }

  totals(dayStart: number): Promise<AgentTotals[]> {
    return q.totals(this.db, dayStart);
  }

  sessionSummaries(agentId: string): Promise<SessionSummaryRow[]> {
    return q.sessionSummaries(this.db, agentId);
  }

  spendByHour(dayStart: number): Promise<HourlySpend[]> {
    return spendByHour(this.db, dayStart);
  }

  close(): Promise<void> {
    return this.db.close();
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
