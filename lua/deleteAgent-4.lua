--[[
  deleteAgent: remove an agent with its open holds, its records and its lease
  index (one incarnation ends: a later agent with the same id starts clean).
  Its key stops working at once. Today's spend key stays until it expires, so
  an agent deleted and registered again the same day keeps that day's spend.
  What its open holds hold under pools is freed there (under pools on another
  shard, which holds that moved here with it left there: by the next sweep of
  this shard, includes/pools.lua P.carry), and it leaves its pool
  (includes/pools.lua). For an agent that lives away from its home shard,
  RedisEngine then removes its home directory entry (lua/pointAgent-1.lua).
  Safe to run twice: the call's nonce is kept an hour in the hash <agent>:gone
  (`n` the nonce, `t` the call's time, `s` the last state, packed), and a
  second run with it answers those.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents
  KEYS[3] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[4] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: <agent>:gone, the pools' hierarchies, the directory, the
   closes to carry tg:{s<n>}:carry)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[4] actor      string
  ARGV[5] nonce      string, this call's id

  Outbox: one entry (events.lua) holding the `agent_deleted` event (OK, not replayed).

  Returns { OK, {}, state (the last one, packed: includes/agent.lua stateReply), nowMs },
  { ELSEWHERE, shard } (includes/pools.lua P.missing), or { code }
  Codes: OK, AGENT_NOT_FOUND, ELSEWHERE, MOVING, SHARD_NOT_READY (nothing written)
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

local agentKey, index, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local goneKey = agentKey .. ':gone'
local now = nowMs(ARGV[1])
POOLS.key = agentKey
local a = loadAgent(agentKey)
if not a then
  local gone = rcall('HMGET', goneKey, 'n', 't', 's')
  if gone[1] == ARGV[5] then return { C.OK, {}, gone[3], tonumber(gone[2]) } end
  local code, shard = pools().missing(agentKey, ARGV[2])
  return { code, shard }
end

local fields = stateFields(agentKey, a, { 'type', 'agent_deleted', 'agent_id', ARGV[2], 'actor', ARGV[4] })
local state = stateReply(agentKey, a, now)
-- Its open holds go with it: what they hold under pools is freed there (pools on another
-- shard, which a hold that moved here with the agent left there: noted for the sweep to
-- free them there, as a release, includes/pools.lua P.carry).
local open = rcall('ZRANGEBYSCORE', leasesKey, 0, '(+inf')
if #open > 0 then
  local values = hmgetMany(agentKey, open)
  for i = 1, #open do
    local r = readRecord(values[i])
    if r and r.st == 'open' and r.pools ~= ''
      and not pools().close(r.pools, r.cost, true, 0, nil, now) then
      pools().carry(ARGV[2] .. '.' .. string.sub(open[i], 3), r.pools, '', 0)
    end
  end
end
if a.pools ~= '' then
  local c = pools().chainOf(a.pools)
  local p = pools().get(c.root, c[1])
  if p then
    p.agents = p.agents - 1
    pools().touch(p)
  end
end
if POOLS.lib then POOLS.lib.flush() end
rcall('DEL', agentKey, leasesKey)
rcall('SREM', index, ARGV[2])
rcall('HSET', goneKey, 'n', ARGV[5], 't', now, 's', state)
rcall('PEXPIRE', goneKey, 3600000)
emit(now, ARGV[3], fields)
flushEvents(outbox)
return { C.OK, {}, state, now }
