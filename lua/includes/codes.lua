--[[
  The status codes every script answers with (the first value of its reply),
  named once here; src/engine/codes.ts maps each to its TypeScript result or
  error. A script names them (C.OK, C.AGENT_NOT_FOUND, …), never by number;
  its header lists the ones it answers.
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
  MODEL_MISMATCH = 19,
  RATE_REQUESTS = 20,
  RATE_TOKENS = 21,
  BUDGET_MONTHLY = 22,
  POOL_DAILY = 23,
  POOL_MONTHLY = 24,
  POOL_RATE_REQUESTS = 25,
  POOL_RATE_TOKENS = 26,
  POOL_NOT_FOUND = 27,
  POOL_EXISTS = 28,
  POOL_TOO_DEEP = 29,
  POOL_NOT_EMPTY = 30,
  ELSEWHERE = 31,
  MOVING = 32,
  STALE_CLAIM = 34,
  SHADOW = 35,
}

-- Where a reservation stands, as authorize's REPLAYED answers it (src/engine/codes.ts RES_STATES).
local RES_STATE = { open = 0, settled = 1, released = 2, expired = 3 }
