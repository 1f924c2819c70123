--[[
  settle: record what an authorized operation really used and free its hold.
  Usage that happened is never refused: it may push a budget past its limit.
  Tokens count for the hold's session if it is still the agent's current one;
  cost counts for the day of the settle; the hold is freed where it was made.
  Idempotent by reservation id. Without a reservation id, settles the agent's
  oldest open hold for the operation (so check-then-record code never leaks a
  hold).

  KEYS[1] agent hash        tg:{s<n>}:agent:<id>
  KEYS[2] leases zset       tg:{s<n>}:agent:<id>:leases
  KEYS[3] reservation hash  tg:{s<n>}:agent:<id>:res:<nonce>  (placeholder ...:res: when ARGV[3] is '')
  KEYS[4] outbox stream     tg:{s<n>}:outbox

  ARGV[1]  offsetMs      integer ms added to TIME (tests only)
  ARGV[2]  agentId       string
  ARGV[3]  nonce         string ('' = the oldest open hold for ARGV[4])
  ARGV[4]  operation     string (used when ARGV[3] is '')
  ARGV[5]  inputTokens   integer >= 0
  ARGV[6]  outputTokens  integer >= 0
  ARGV[7]  inRate        integer micro-dollars per million ('' = the hold's model)
  ARGV[8]  outRate       integer micro-dollars per million ('' = the hold's model)
  ARGV[9]  model         string ('' = the hold's model)
  ARGV[10] result        string ('success' | 'failure')
  ARGV[11] keyDigest     string ('' = not an agent key)
  ARGV[12] eventTail     string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                         4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[13] actor         string
  ARGV[14] maxFree       integer, most expired leases freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then the `settle` event; codes 9 and 10 append only
  the former (nothing when no lease expired).

  Returns { code, { reservationId, costMicros }, statusTuple }
  Codes: 0 settled, 1 AGENT_NOT_FOUND, 6 UNAUTHENTICATED,
         9 RESERVATION_NOT_FOUND, 10 already settled or released (nothing recorded),
         14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local agentKey, leasesKey, resKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local offsetMs, agentId, nonce, operation = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local inTokens, outTokens = tonumber(ARGV[5]), tonumber(ARGV[6])
local digest, tail, actor = ARGV[11], ARGV[12], ARGV[13]
local now = nowMs(offsetMs)

local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end
if digest ~= '' and a.digest ~= digest then return { 6, {}, {} } end
freeExpired(agentKey, leasesKey, a, agentId, now, tonumber(ARGV[14]), tail)

-- Nothing settled; freeExpired's events (if any) still go out.
local function unchanged(code, resId)
  if a.dirty then saveAgent(agentKey, a) end
  flushEvents(outbox)
  return { code, { resId, 0 }, statusOf(a, dayCostOf(agentKey, a, now), now) }
end

if nonce == '' then
  local ids = rcall('ZRANGE', leasesKey, 0, 63)
  for i = 1, #ids do
    local v = rcall('HGET', agentKey, 'h:' .. ids[i])
    if v and select(6, unpackHold(v)) == operation then
      nonce = ids[i]
      break
    end
  end
  if nonce == '' then return unchanged(9, '') end
  resKey = agentKey .. ':res:' .. nonce
end
local resId = agentId .. '.' .. nonce

local h = readHold(agentKey, nonce)
if not h[1] then return unchanged(9, resId) end
if h[1] == 'done' then return unchanged(10, resId) end

if h[1] == 'open' then
  if h[2] == a.sid then a.s_res = a.s_res - tonumber(h[3]) end
  a.c_res = a.c_res - tonumber(h[4])
  rcall('ZREM', leasesKey, nonce)
end
local wasOpen = h[1] == 'open'
local inRate = ARGV[7] ~= '' and tonumber(ARGV[7]) or tonumber(h[5])
local outRate = ARGV[8] ~= '' and tonumber(ARGV[8]) or tonumber(h[6])
local model = ARGV[9] ~= '' and ARGV[9] or h[8]
local cost = costMicros(inTokens, inRate, outTokens, outRate)
if h[2] == a.sid then
  a.s_used = a.s_used + inTokens + outTokens
  a.s_cost = a.s_cost + cost
end
local cUsed = chargeDay(agentKey, a, now, offsetMs, cost)
saveAgent(agentKey, a)
if wasOpen then
  closeHold(agentKey, nonce, h, 'done', 'in', inTokens, 'out', outTokens, 'charged', cost,
    'result', ARGV[10])
else
  rcall('HSET', resKey, 'st', 'done', 'in', inTokens, 'out', outTokens, 'charged', cost,
    'result', ARGV[10])
  rcall('PEXPIRE', resKey, 3600000)
end
emit(now, tail, { 'type', 'settle', 'agent_id', agentId, 'session_id', h[2],
  'role', a.role, 'operation', h[7], 'input_tokens', inTokens, 'output_tokens', outTokens,
  'cost', cost, 'model', model, 'reservation_id', resId, 'request_id', h[9],
  'result', ARGV[10], 'session_utilization', pct(a.s_used, a.s_limit),
  'daily_utilization', pct(cUsed, a.d_limit), 'actor', actor })
flushEvents(outbox)
return { 0, { resId, cost }, statusOf(a, cUsed, now) }
