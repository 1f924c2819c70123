--[[
  recordUsage: record usage that had no reservation (the guide's deductBudget).
  Always records, even past a limit or for a suspended agent: usage that
  happened is never refused.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1]  offsetMs      integer ms added to TIME (tests only)
  ARGV[2]  agentId       string
  ARGV[3]  operation     string ('' = none given)
  ARGV[4]  inputTokens   integer >= 0
  ARGV[5]  outputTokens  integer >= 0
  ARGV[6]  inRate        integer micro-dollars per million input tokens
  ARGV[7]  outRate       integer micro-dollars per million output tokens
  ARGV[8]  model         string
  ARGV[9]  result        string ('success' | 'failure')
  ARGV[10] keyDigest     string ('' = not an agent key)
  ARGV[11] eventTail     string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                         4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[12] actor         string
  ARGV[13] maxFree       integer, most expired leases freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then the `usage` event.

  Returns { code, { '', costMicros }, statusTuple }
  Codes: 0 recorded, 1 AGENT_NOT_FOUND, 6 UNAUTHENTICATED, 14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local offsetMs, agentId = ARGV[1], ARGV[2]
local inTokens, outTokens = tonumber(ARGV[4]), tonumber(ARGV[5])
local digest, tail = ARGV[10], ARGV[11]
local now = nowMs(offsetMs)

local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end
if digest ~= '' and a.digest ~= digest then return { 6, {}, {} } end
freeExpired(agentKey, leasesKey, a, agentId, now, tonumber(ARGV[13]), tail)

local cost = costMicros(inTokens, tonumber(ARGV[6]), outTokens, tonumber(ARGV[7]))
a.s_used = a.s_used + inTokens + outTokens
a.s_cost = a.s_cost + cost
local cUsed = chargeDay(agentKey, a, now, offsetMs, cost)
saveAgent(agentKey, a)
emit(now, tail, { 'type', 'usage', 'agent_id', agentId, 'session_id', a.sid,
  'role', a.role, 'operation', ARGV[3], 'input_tokens', inTokens, 'output_tokens', outTokens,
  'cost', cost, 'model', ARGV[8], 'result', ARGV[9],
  'session_utilization', pct(a.s_used, a.s_limit), 'daily_utilization', pct(cUsed, a.d_limit),
  'actor', ARGV[12] })
flushEvents(outbox)
return { 0, { '', cost }, statusOf(a, cUsed, now) }
