--[[
  The status codes every script answers with (the first value of its reply),
  named once here; src/engine/codes.ts maps each to its TypeScript result.
  A script names them (C.OK, C.AGENT_NOT_FOUND, …); its header lists the ones
  it answers.
]]
local C = {
  OK = 0,
  AGENT_NOT_FOUND = 1,
  AGENT_SUSPENDED = 2,
  RBAC_DENIED = 3,
  BUDGET_SESSION = 4,
  BUDGET_DAILY = 5,
  UNAUTHENTICATED = 6,
  IDEMPOTENCY_CONFLICT = 7,
  REPLAYED = 8,
  RESERVATION_NOT_FOUND = 9,
  ALREADY_CLOSED = 10,
  CONFLICT = 11,
  SESSION_NOT_FOUND = 12,
  INVALID_FIELD = 13,
  SHARD_NOT_READY = 14,
  SHARD_READY = 15,
  RECOVERY_BUSY = 16,
  REPLAYED_DENIAL = 17,
  NO_HOLD = 18,
}
