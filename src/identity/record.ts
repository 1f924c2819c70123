import type { AgentRecord } from '../api/routes/agents.schemas.js';
import type { AgentSnapshot } from '../engine/types.js';
import type { Policy } from '../policy/index.js';

/** The agent record contract (ARCHITECTURE.md, "Contracts"): what getAgent and GET /v1/agents/:id return. */
export type { AgentRecord };

export function parseMetadata(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function toAgentRecord(snap: AgentSnapshot, policy: Policy): AgentRecord {
  return {
    agent_id: snap.status.agentId,
    role: snap.status.role,
    pool_id: snap.status.poolId,
    status: snap.status.status,
    permissions: [...policy.permissions(snap.status.role)],
    session_id: snap.status.sessionId,
    created_at: new Date(snap.createdMs).toISOString(),
    metadata: parseMetadata(snap.metadata),
  };
}
