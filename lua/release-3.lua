--[[
  release: free a hold without usage (the operation did not run), and give its
  estimate back to the agent's tokens per minute (and, for a hold made under
  pools, the same under each of them: includes/pools.lua). Safe to run twice: a closed hold answers ALREADY_CLOSED; releasing a hold whose lease
  already expired only closes its record (as released).

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] leases zset    tg:{s<n>}:agent:<id>:leases
  KEYS[3] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: the hold's pools' hierarchy, the directory, the closes to
   carry tg:{s<n>}:carry)

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] nonce      string
  ARGV[4] keyDigest  string ('' = not an agent key)
  ARGV[5] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[6] actor      string
  ARGV[7] maxFree    integer, most expired holds freed in this call

  Outbox: one entry per call (events.lua): a `release` event (lease_expired)
  per expired hold freed, then this hold's `release` event (released) when it
  was still open; nothing when neither happened. A hold made under pools: its
  event has `pools` last.

  Returns { code, { root }, state, nowMs } (OK, RESERVATION_NOT_FOUND, ALREADY_CLOSED;
  root: '', or the root of the hold's pools when they are on another shard (the hold
  moved here with its agent) and their close is to be carried there
  (src/engine/redis/ops/closeLeftHold.ts); state: the packed state, includes/agent.lua
  stateReply), { ELSEWHERE, shard }, or { code }
  Codes: OK, AGENT_NOT_FOUND, UNAUTHENTICATED, RESERVATION_NOT_FOUND,
         ALREADY_CLOSED (settled or released before; nothing written),
         ELSEWHERE, MOVING, SHARD_NOT_READY (nothing written)
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

local agentKey, leasesKey, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId, nonce, digest, tail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
freeBudget = tonumber(ARGV[7])
local now = nowMs(ARGV[1])
local resId = agentId .. '.' .. nonce
local holdField = 'h:' .. nonce
POOLS.key = agentKey

local a, v = loadAgent(agentKey, nil, holdField)
if not a then
  local code, shard = pools().missing(agentKey, agentId)
  return { code, shard }
end
if digest ~= '' and a.digest ~= digest then return { C.UNAUTHENTICATED } end
-- What was recorded answers first, writing nothing; only a release that closes a hold
-- frees expired holds too.
local r = readRecord(v)
local code = C.OK
-- The root of the hold's pools when they are on another shard and their close is to be
-- carried there (includes/pools.lua P.carry), else ''.
local carried = ''
if not r or r.st == 'denied' then
  code = C.RESERVATION_NOT_FOUND
elseif r.st == 'settled' or r.st == 'released' then
  code = C.ALREADY_CLOSED
  if r.st == 'released' and r.pools ~= '' then carried = pools().carried(resId, r.pools) end
else
  tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
  -- This hold's lease may have passed: freed just now, it is closed as released, no event.
  if a.dirty and r.st == 'open' then r = readRecord(rcall('HGET', agentKey, holdField)) end
  local record = closedText('released', r, '', '', '', 'released', '', '')
  -- Tokens per minute: the hold's estimate is given back (includes/rate.lua).
  agentRateCorrect(a, -r.tok, now)
  if r.pools ~= '' and not pools().close(r.pools, r.cost, r.st == 'open', 0, -r.tok, now) then
    carried = pools().carry(resId, r.pools, '', 0)
  end
  if r.st == 'open' then
    a.s_res = a.s_res - r.tok
    a.c_res = a.c_res - r.cost
    local ev = { 'type', 'release', 'agent_id', agentId, 'session_id', a.sid,
      'role', a.role, 'operation', r.op, 'reservation_id', resId, 'request_id', r.req,
      'input_tokens', 0, 'output_tokens', 0, 'cost', 0, 'result', 'released',
      'actor', ARGV[6] }
    if r.pools ~= '' then ev[#ev + 1], ev[#ev + 2] = 'pools', r.pools end
    emit(now, tail, ev)
  end
  saveAgent(agentKey, a, holdField, record)
  rcall('ZADD', leasesKey, tombScore(now), holdField)
end
if a.dirty then saveAgent(agentKey, a) end
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return { code, { carried }, stateReply(agentKey, a, now), now }
