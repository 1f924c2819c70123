--[[
  sweepShard: one bounded step of the background sweep of a shard: for the
  agents one SSCAN step of the shard's index returns, frees the holds whose
  lease has passed and forgets the records whose time has passed (what every
  call that touches an agent does first), so that holds of agents nobody calls
  any more do not stay held (freed under their pools too: includes/pools.lua);
  then frees the pool parts left on this shard by holds that moved away with
  their agent whose lease passed, and forgets those closed long enough
  (includes/left.lua). Run until the cursor comes back '0'.

  KEYS[1] agent index    tg:{s<n>}:agents
  KEYS[2] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: each agent's hash and leases zset, the pools' hierarchies,
   tg:{s<n>}:left and tg:{s<n>}:left:leases)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] cursor     string, the SSCAN cursor ('0': the start)
  ARGV[3] count      integer, the SSCAN COUNT hint (agents per step)
  ARGV[4] maxFree    integer, most expired holds (and pool parts left) freed in this call
  ARGV[5] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)

  Outbox: one entry per call (events.lua) with a `release` event (lease_expired)
  per expired hold freed; none when none was.

  Returns { nextCursor, agentsVisited, holdsFreed }
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/codes"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"
--- @include "includes/left"

local prefix = string.sub(KEYS[1], 1, -2) .. ':'
freeBudget = tonumber(ARGV[4])
local now = nowMs(ARGV[1])
POOLS.key = KEYS[1]
local step = rcall('SSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local ids, freed = step[2], 0
for i = 1, #ids do
  local key = prefix .. ids[i]
  local a = loadAgent(key)
  if a then
    local leasesKey = key .. ':leases'
    freed = freed + freeExpired(key, leasesKey, a, ids[i], now, ARGV[5])
    purgeRecords(key, leasesKey, a, now)
    if a.dirty then saveAgent(key, a) end
  end
end
LEFT.sweep(KEYS[1], now, freeBudget)
if POOLS.lib then POOLS.lib.flush() end
flushEvents(KEYS[2])
return { step[1], #ids, freed }
