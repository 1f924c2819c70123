--[[
  release: free a hold without usage (the operation did not run). Idempotent by
  reservation id; releasing a hold whose lease already expired only closes it.

  KEYS[1] agent hash        tg:{s<n>}:agent:<id>
  KEYS[2] leases zset       tg:{s<n>}:agent:<id>:leases
  KEYS[3] reservation hash  tg:{s<n>}:agent:<id>:res:<nonce>
  KEYS[4] outbox stream     tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] nonce      string
  ARGV[4] keyDigest  string ('' = not an agent key)
  ARGV[5] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[6] actor      string
  ARGV[7] maxFree    integer, most expired leases freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then this hold's `release` event (released) when it
  was still open; nothing when neither happened.

  Returns { code, { reservationId, 0 }, statusTuple }
  Codes: 0 released, 1 AGENT_NOT_FOUND, 6 UNAUTHENTICATED,
         9 RESERVATION_NOT_FOUND, 10 already settled or released,
         14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/leases"
--- @include "includes/ready"

local agentKey, leasesKey, resKey, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local agentId, nonce, digest, tail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = nowMs(ARGV[1])
local resId = agentId .. '.' .. nonce

local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end
if digest ~= '' and a.digest ~= digest then return { 6, {}, {} } end
freeExpired(agentKey, leasesKey, a, agentId, now, tonumber(ARGV[7]), tail)

local h = readHold(agentKey, nonce)
local code = 0
if not h[1] then
  code = 9
elseif h[1] == 'done' then
  code = 10
else
  if h[1] == 'open' then
    if h[2] == a.sid then a.s_res = a.s_res - tonumber(h[3]) end
    a.c_res = a.c_res - tonumber(h[4])
    rcall('ZREM', leasesKey, nonce)
    a.dirty = true
    emit(now, tail, { 'type', 'release', 'agent_id', agentId, 'session_id', h[2],
      'role', a.role, 'operation', h[7], 'reservation_id', resId, 'request_id', h[9],
      'input_tokens', 0, 'output_tokens', 0, 'cost', 0, 'result', 'released',
      'actor', ARGV[6] })
    closeHold(agentKey, nonce, h, 'done', 'result', 'released')
  else
    rcall('HSET', resKey, 'st', 'done', 'result', 'released')
    rcall('PEXPIRE', resKey, 3600000)
  end
end
if a.dirty then saveAgent(agentKey, a) end
flushEvents(outbox)
return { code, { resId, 0 }, statusOf(a, dayCostOf(agentKey, a, now), now) }
