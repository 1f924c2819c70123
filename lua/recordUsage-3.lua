--[[
  recordUsage: record usage that had no reservation (the guide's deductBudget).
  Always records, even past a limit or for a suspended agent: usage that
  happened is never refused. Its cost counts for the agent's pools too (each
  one's day and month, includes/pools.lua), its tokens in the tokens per
  minute of the agent and of each pool (includes/rate.lua, moved as a
  settle's correction moves them). Safe to run twice: the caller's usage id is
  remembered; the same usage again answers the recorded cost, other values
  under the same id are a conflict.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: the agent's pools' hierarchy, the directory)

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
  ARGV[13] maxFree       integer, most expired holds freed in this call
  ARGV[14] usageId       string, the caller's id of this usage
  ARGV[15] costMicros    integer micro-dollars >= 0, the usage's cost as trusted code priced it
                         ('' = not given: the tokens at ARGV[6], ARGV[7], rounded up); a
                         repeat that gives one matches only if the recorded cost is exactly it
  ARGV[16] alertMin      integer percent, the lowest budget alert threshold ('' = no alerts)
  ARGV[17] alertPcts     string, the thresholds in percent, increasing, joined by ',' ('50,80,100';
                         parsed only when a budget reaches ARGV[16]: includes/alerts.lua)

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then the `usage` event (OK only; with `pools` last for an
  agent in a pool), then a `budget_alert` per threshold of ARGV[17] the usage made
  a budget cross for the first time in its period: the agent's, then each of its
  pools', leaf first (includes/alerts.lua).

  Returns { code, { costMicros }, state, nowMs } (OK, ALREADY_CLOSED, IDEMPOTENCY_CONFLICT;
  state: the packed state, includes/agent.lua stateReply), { ELSEWHERE, shard }, or { code }
  Codes: OK, AGENT_NOT_FOUND, UNAUTHENTICATED, ELSEWHERE, MOVING,
         ALREADY_CLOSED (this usage id recorded the same usage: its cost; nothing written),
         IDEMPOTENCY_CONFLICT (this usage id recorded something else; nothing written),
         SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"
--- @include "includes/alerts"

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local offsetMs, agentId = ARGV[1], ARGV[2]
local inTok, outTok = tonumber(ARGV[4]), tonumber(ARGV[5])
local digest, tail = ARGV[10], ARGV[11]
freeBudget = tonumber(ARGV[13])
local usageField = 'u:' .. ARGV[14]
local priced = ARGV[15] ~= '' and tonumber(ARGV[15]) or nil
ALERT.min, ALERT.text = tonumber(ARGV[16]), ARGV[17]
POOLS.amin = ALERT.min
local now = nowMs(offsetMs)
POOLS.key = agentKey

local a, v = loadAgent(agentKey, nil, usageField)
if not a then
  local code, shard = pools().missing(agentKey, agentId)
  return { code, shard }
end
if digest ~= '' and a.digest ~= digest then return { C.UNAUTHENTICATED } end

local fingerprint = ARGV[3] .. '|' .. inTok .. '|' .. outTok .. '|' .. ARGV[8] .. '|' .. ARGV[9]
if v then
  local kind, fp, cost = string.match(v, '^(%a)\31([^\31]*)\31([^\31]*)\31')
  local same = kind == 'u' and fp == fingerprint and (not priced or tonumber(cost) == priced)
  local code = same and C.ALREADY_CLOSED or C.IDEMPOTENCY_CONFLICT
  return { code, { tonumber(cost) or 0 }, stateReply(agentKey, a, now), now }
end

tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
local cost = priced or costMicros(inTok, tonumber(ARGV[6]), outTok, tonumber(ARGV[7]))
a.s_used = a.s_used + inTok + outTok
a.s_cost = a.s_cost + cost
local cUsed = chargeDay(agentKey, a, now, offsetMs, cost, 0)
-- Tokens per minute count the usage, as a settle's does (never refused: it happened).
agentRateCorrect(a, inTok + outTok, now)
if a.pools ~= '' then pools().charge(a.pools, cost, inTok + outTok, now) end
local state = saveAgent(agentKey, a, usageField, 'u\31' .. fingerprint .. '\31' .. cost .. '\31')
rcall('ZADD', leasesKey, tombScore(now), usageField)
local ev = { 'type', 'usage', 'agent_id', agentId, 'session_id', a.sid,
  'role', a.role, 'operation', ARGV[3], 'input_tokens', inTok, 'output_tokens', outTok,
  'cost', cost, 'model', ARGV[8], 'result', ARGV[9],
  'session_utilization', pct(a.s_used, a.s_limit), 'daily_utilization', pct(cUsed, a.d_limit),
  'actor', ARGV[12] }
if a.pools ~= '' then ev[#ev + 1], ev[#ev + 2] = 'pools', a.pools end
emit(now, tail, ev)
agentAlerts(agentKey, agentId, a, inTok + outTok, cost, now, tail)
if POOLS.hot then poolAlerts(a.pools, agentId, cost, now, tail) end
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return { C.OK, { cost }, state, now }
