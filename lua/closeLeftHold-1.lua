--[[
  closeLeftHold: on the shard of a hierarchy, close the pool part of a hold
  whose agent moved to another shard with it open (lua/freezeAgent-3.lua left
  it here: includes/left.lua), once the hold was settled or released on the
  agent's shard (src/engine/redis/ops/closeLeftHold.ts): an open part frees its
  cost under each pool; a settle's cost goes to each pool's day and month and
  its tokens correct each pool's tokens per minute (used - held; a release:
  - held), as a settle or release made here does (includes/pools.lua P.close).
  Safe to run twice: a part closed, or not here (never left here, or
  forgotten an hour after it closed), answers 0, nothing written.

  KEYS[1] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: tg:{s<n>}:left, tg:{s<n>}:left:leases, the pools' hierarchy)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3] alertMin   integer percent, the lowest budget alert threshold ('' = no alerts)
  ARGV[4] alertPcts  string, the thresholds in percent, increasing, joined by ','
  ARGV[5] resId      string, the hold's reservation id <agentId>.<nonce>
  ARGV[6] used       integer tokens the settle recorded ('' = a release)
  ARGV[7] cost       integer µ$ the settle charged (0 for a release)

  Outbox: one entry (events.lua) with a `budget_alert` per threshold the cost
  made a pool cross for the first time in its period (includes/alerts.lua),
  leaf first; none when none did. The hold's settle or release event, with its
  `pools`, is on the agent's shard.

  Returns { OK, closed (1, or 0: nothing written), nowMs }, or { INVALID_FIELD }
  (a count that is not a plain integer: the caller checks them, so never in practice)
  Codes: OK, INVALID_FIELD
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
--- @include "includes/alerts"
--- @include "includes/left"

local outbox = KEYS[1]
POOLS.key = outbox
local now = nowMs(ARGV[1])
ALERT.min, ALERT.text = tonumber(ARGV[3]), ARGV[4]
POOLS.amin = ALERT.min
local resId, used, cost = ARGV[5], ARGV[6], tonumber(ARGV[7])
if used ~= '' then
  used = tonumber(used)
  if not used or used < 0 or used ~= math.floor(used) then return { C.INVALID_FIELD } end
else
  used = nil
end
if not cost or cost < 0 or cost ~= math.floor(cost) then return { C.INVALID_FIELD } end

local chain = LEFT.close(outbox, resId, used, cost, now)
if not chain then return { C.OK, 0, now } end
if POOLS.hot then
  poolAlerts(chain, string.match(resId, '^(.+)%.[^.]+$'), cost, now, ARGV[2])
end
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return { C.OK, 1, now }
