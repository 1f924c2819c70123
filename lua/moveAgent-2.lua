--[[
  moveAgent: put an agent in another pool (or in none) when its new place is
  on the shard it lives on (within a hierarchy, or between hierarchies whose
  roots share the shard): one atomic step. Its open holds stay charged to the
  pools they were made under and settle there (their holds name them).
  Safe to run twice: an agent already in the pool answers as it is, nothing
  written. A move to another shard is src/engine/redis/ops/moveAgent.ts's steps.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: the hierarchies of its old and new pool, the directory)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] actor      string
  ARGV[4] agentId    string
  ARGV[5] poolId     string, the new pool ('' = none)
  ARGV[6] root       string, its root (its hierarchy is on this shard; '' with no pool)

  Outbox: one entry (events.lua) with the `agent_moved` event (when it moved).

  Returns { OK, { createdMs, metadata, replayed (0|1) }, state, nowMs },
  { ELSEWHERE, shard }, or { code }
  Codes: OK, AGENT_NOT_FOUND, POOL_NOT_FOUND, ELSEWHERE, MOVING, SHARD_NOT_READY
  (all but OK: nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local agentKey, outbox = KEYS[1], KEYS[2]
local agentId, poolId = ARGV[4], ARGV[5]
local now = nowMs(ARGV[1])
POOLS.key = agentKey
local a, created, meta = loadAgent(agentKey, nil, 'created', 'meta')
if not a then
  local code, shard = pools().missing(agentKey, agentId)
  return { code, shard }
end
local to = nil
if poolId ~= '' then
  to = pools().get(ARGV[6], poolId)
  if not to then return { C.POOL_NOT_FOUND } end
end
local from = a.pools ~= '' and pools().chainOf(a.pools) or nil
local fromId = from and from[1] or ''
if fromId == poolId then
  return { C.OK, { tonumber(created), meta, 1 }, stateReply(agentKey, a, now), now }
end
if from then
  local old = pools().get(from.root, fromId)
  if old then
    old.agents = old.agents - 1
    pools().touch(old)
  end
end
if to then
  to.agents = to.agents + 1
  pools().touch(to)
end
a.pools = to and to.chain or ''
dayCostOf(agentKey, a, now)
local state = saveAgent(agentKey, a)
if POOLS.lib then POOLS.lib.flush() end
pools().moved(now, ARGV[2], agentId, poolId, fromId, ARGV[3])
flushEvents(outbox)
return { C.OK, { tonumber(created), meta, 0 }, state, now }
