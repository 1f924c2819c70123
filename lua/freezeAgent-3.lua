--[[
  freezeAgent: the first step of moving an agent to a pool whose hierarchy is
  on another shard (src/engine/redis/ops/moveAgent.ts): on the shard it lives
  on, free its expired holds; its open holds go with it, but those made under
  pools of a hierarchy on this shard leave their pool part here, held until
  the hold ends (includes/left.lua); note the move in its hash (field `mv`) and freeze it: the
  hash is renamed <agent>:frozen and this shard's directory says it is moving
  (includes/pools.lua (P.missing): every call for it answers MOVING meanwhile). Answers the
  frozen hash and leases, which lua/copyAgent-3.lua writes on the new shard.
  Safe to run twice: a frozen agent answers its content (and the move noted,
  which may be another call's: the caller completes that one first). With
  ARGV[4] '' it only answers a frozen agent (a caller that met MOVING
  completes the move).

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: <agent>:frozen, the directory, the pools' hierarchies, the
   holds left tg:{s<n>}:left and tg:{s<n>}:left:leases)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] agentId    string
  ARGV[4] move       string 'nonce|shard|poolId|root|actor': this move's id, the shard and
                     pool ('' = none) it goes to, its root, who moves it ('' = only answer
                     a frozen agent)
  ARGV[5] maxFree    integer, most expired holds freed in this call

  Outbox: one entry per call (events.lua) with a `release` event (lease_expired)
  per expired hold freed; none when none was.

  Returns { OK, move, fields, leases, nowMs } (move: the move noted, ARGV[4] and
  then '|' and the pool it leaves; fields: the frozen hash as name, value, …;
  leases: its leases as member, score, …), { OK } (ARGV[4] '' and nothing
  frozen), { ELSEWHERE, shard }, or { code }.
  Codes: OK, AGENT_NOT_FOUND, ELSEWHERE, MOVING, SHARD_NOT_READY
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

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId, move = ARGV[3], ARGV[4]
local frozenKey = agentKey .. ':frozen'
freeBudget = tonumber(ARGV[5])
local now = nowMs(ARGV[1])
POOLS.key = agentKey

local a = loadAgent(agentKey)
if a then
  if move == '' then return { C.OK } end
  tidyAgent(agentKey, leasesKey, a, agentId, now, ARGV[2])
  LEFT.leave(agentKey, leasesKey, agentId)
  dayCostOf(agentKey, a, now)
  local from = string.match(a.pools, '^[^|]*')
  saveAgent(agentKey, a, 'mv', move .. '|' .. from)
  if POOLS.lib then POOLS.lib.flush() end
  flushEvents(outbox)
  rcall('RENAME', agentKey, frozenKey)
  rcall('HSET', string.match(agentKey, '^(.-}:)') .. 'dir', agentId,
    'm' .. string.match(move, '^[^|]*|(%d+)') .. ':' .. now)
elseif rcall('EXISTS', frozenKey) == 0 then
  if move == '' then return { C.OK } end
  local code, shard = pools().missing(agentKey, agentId)
  return { code, shard }
end
return { C.OK, rcall('HGET', frozenKey, 'mv'), rcall('HGETALL', frozenKey),
  rcall('ZRANGE', leasesKey, 0, -1, 'WITHSCORES'), now }
