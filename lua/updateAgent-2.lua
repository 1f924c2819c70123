--[[
  updateAgent: change an agent's role, status, limits, key digest or metadata
  (suspend, resume, role change, limit override, key rotation). The event
  carries the agent's whole new state. Safe to run twice: when every field
  already has its value, nothing is written and no event is emitted.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] outbox stream  tg:{s<n>}:outbox

  ARGV[1] offsetMs   integer ms added to TIME (tests only)
  ARGV[2] agentId    string
  ARGV[3] eventType  string: agent_updated | agent_suspended | agent_resumed |
                     key_rotated | limits_changed
  ARGV[4] eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                     4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[5] actor      string
  ARGV[6..] pairs    field, value: role (string), status (active|suspended),
                     s_limit (integer tokens), d_limit (integer micro-dollars),
                     rpm, tpm (integer requests, tokens per minute; 0 = no limit:
                     a new limit keeps the whole ms of its TAT, includes/rate.lua),
                     m_limit (integer micro-dollars a month, 0 = no limit),
                     zone (the time zone's offsets, src/engine/periods.ts zoneTextAt:
                     its name goes in the state, the text in field `z`; a zone of the
                     same name changes nothing), digest (sha-256 hex), meta (JSON text)

  Outbox: one entry (events.lua) holding the ARGV[3] event (when something changed).

  Returns { OK, { createdMs, metadata, replayed (0|1: nothing to change) }, state, nowMs },
  { ELSEWHERE, shard } (includes/pools.lua P.missing), or { code } (state: the packed state,
  includes/agent.lua stateReply)
  Codes: OK, AGENT_NOT_FOUND, INVALID_FIELD (unknown field; nothing written),
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

local agentKey, outbox = KEYS[1], KEYS[2]
POOLS.key = agentKey
local now = nowMs(ARGV[1])
local settable = { role = true, status = true, s_limit = true, d_limit = true, rpm = true, tpm = true,
  m_limit = true, zone = true, digest = true, meta = true }
-- The remainder of each rate limit's TAT, in 1/limit ms: not kept across a new limit.
local FRAC = { rpm = 'r_frac', tpm = 't_frac' }
for i = 6, #ARGV, 2 do
  if not settable[ARGV[i]] or ARGV[i + 1] == nil then return { C.INVALID_FIELD } end
end
local a, created, meta = loadAgent(agentKey, nil, 'created', 'meta')
if not a then
  local code, shard = pools().missing(agentKey, ARGV[2])
  return { code, shard }
end

local changed, extra = false, {}
for i = 6, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'meta' then
    if v ~= meta then
      changed, meta = true, v
      extra[#extra + 1], extra[#extra + 2] = 'meta', v
    end
  elseif f == 'zone' then
    local name = string.match(v, '^[^|]*')
    if name ~= (a.zone == '' and 'UTC' or a.zone) then
      changed, a.zone, a.zt = true, name, v
      extra[#extra + 1], extra[#extra + 2] = 'z', v
    end
  elseif f == 's_limit' or f == 'd_limit' or f == 'm_limit' or FRAC[f] then
    if a[f] ~= tonumber(v) then
      changed, a[f] = true, tonumber(v)
      if FRAC[f] then a[FRAC[f]] = 0 end
    end
  elseif a[f] ~= v then
    changed, a[f] = true, v
  end
end
if not changed then
  return { C.OK, { tonumber(created), meta, 1 }, stateReply(agentKey, a, now), now }
end
saveAgent(agentKey, a, unpack(extra))
emit(now, ARGV[4], stateFields(agentKey, a,
  { 'type', ARGV[3], 'agent_id', ARGV[2], 'actor', ARGV[5] }))
flushEvents(outbox)
return { C.OK, { tonumber(created), meta, 0 }, stateReply(agentKey, a, now), now }
