--[[
  copyAgent: the second step of moving an agent to another shard
  (src/engine/redis/ops/moveAgent.ts): write the frozen agent
  (lua/freezeAgent-3.lua's answer) on its new shard, in its new pool, with the
  spend of its day and month and its holds; then it is counted in the pool and emits
  `agent_moved`. Holds whose pools are on this shard (the agent comes back)
  take back the pool parts they left here (includes/left.lua). On its home shard the directory entry is removed here (an
  agent at home has none). Safe to run twice: an agent there with this move
  noted answers as it is, nothing written.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>  (n: the new shard)
  KEYS[2] agent index    tg:{s<n>}:agents
  KEYS[3] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: its leases, day and month keys, the new pool's
   hierarchy, the directory, the ready marker, the holds left here)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] agentId    string
  ARGV[4] move       string, the move noted ('nonce|shard|poolId|root|actor|fromPoolId')
  ARGV[5] home       integer, the agent id's home shard
  ARGV[6] nFields    integer, how many values of the frozen hash follow (name, value, …)
  then the frozen hash's names and values, then its leases (member, score, …)

  Outbox: one entry (events.lua) with the `agent_moved` event (OK, not a repeat).

  Returns { OK, state, nowMs } or { code }
  Codes: OK, POOL_NOT_FOUND, CONFLICT (another agent of this id is there),
  SHARD_NOT_READY (all but OK: nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"
--- @include "includes/left"
--- @include "includes/ready"

local agentKey, index, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId, move = ARGV[3], ARGV[4]
local nonce, _, poolId, root, actor, fromId =
  string.match(move, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
local now = nowMs(ARGV[1])
POOLS.key = agentKey

local existing = loadAgent(agentKey)
if existing then
  if rcall('HGET', agentKey, 'mv') == move then
    return { C.OK, stateReply(agentKey, existing, now), now }
  end
  return { C.CONFLICT }
end
local pool = nil
if poolId ~= '' then
  pool = pools().get(root, poolId)
  if not pool then return { C.POOL_NOT_FOUND } end
end
if not shardReady(agentKey) then return { C.SHARD_NOT_READY } end

local nFields = tonumber(ARGV[6])
local fields = {}
for i = 7, 6 + nFields do fields[#fields + 1] = ARGV[i] end
callMany('HSET', agentKey, fields, 1000)
local scores = {}
for i = 7 + nFields, #ARGV, 2 do
  scores[#scores + 1] = ARGV[i + 1]
  scores[#scores + 1] = ARGV[i]
end
if #scores > 0 then callMany('ZADD', agentKey .. ':leases', scores, 1000) end
LEFT.reclaim(agentKey, agentKey .. ':leases', agentId)

local a = loadAgent(agentKey)
a.pools = pool and pool.chain or ''
-- The spend of its day and month, from the state's copies (the old shard's keys).
local p = periodAt(now, a.zt)
local off = tonumber(ARGV[1])
local function put(suffix, cost, ovr, endMs, fallbackS)
  if cost <= 0 and ovr <= 0 then return end
  local k = agentKey .. suffix
  rcall('HSET', k, 'cost', cost, 'ovr', ovr)
  rcall('EXPIREAT', k, endMs and math.floor((endMs - off) / 1000) + 86400 or fallbackS)
end
put(':day:' .. a.c_day, a.c_dcost, a.c_dovr, a.c_day == p.day and p.nextDayMs or nil,
  math.floor(now / 1000) + 3 * 86400)
put(':month:' .. a.c_mon, a.c_mcost, a.c_movr, a.c_mon == p.month and p.nextMonthMs or nil,
  math.floor(now / 1000) + 33 * 86400)
local state = saveAgent(agentKey, a, 'mv', move)
rcall('SADD', index, agentId)
if pool then
  pool.agents = pool.agents + 1
  pools().touch(pool)
  if POOLS.lib then POOLS.lib.flush() end
end
local tag = string.match(agentKey, '^(.-}:)')
if tonumber(string.match(tag, '{s(%d+)}')) == tonumber(ARGV[5]) then
  local e = rcall('HGET', tag .. 'dir', agentId)
  if e and string.sub(e, 1, 1) == 'a' then rcall('HDEL', tag .. 'dir', agentId) end
end
pools().moved(now, ARGV[2], agentId, poolId, fromId, actor)
flushEvents(outbox)
return { C.OK, stateReply(agentKey, a, now), now }
