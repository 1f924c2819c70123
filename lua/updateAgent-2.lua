--[[
  updateAgent: change an agent's role, status, limits, key digest or metadata
  (suspend, resume, role change, limit override, key rotation). The event
  carries the agent's whole new state.

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
                     digest (sha-256 hex), meta (JSON text)

  Outbox: one entry (events.lua) holding the ARGV[3] event.

  Returns { code, { createdMs, metadata }, statusTuple }
  Codes: 0 updated, 1 AGENT_NOT_FOUND, 13 VALIDATION_FAILED (unknown field; nothing written),
         14 SHARD_NOT_READY (nothing written)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/ready"

local agentKey, outbox = KEYS[1], KEYS[2]
local now = nowMs(ARGV[1])
local settable = { role = true, status = true, s_limit = true, d_limit = true, digest = true, meta = true }
local sets = {}
for i = 6, #ARGV, 2 do
  if not settable[ARGV[i]] or ARGV[i + 1] == nil then return { 13, {}, {} } end
  sets[#sets + 1] = ARGV[i]
  sets[#sets + 1] = ARGV[i + 1]
end
local a = loadAgent(agentKey)
if not a then return { shardReady(agentKey) and 1 or 14, {}, {} } end

if #sets > 0 then
  local extra = {}
  for i = 1, #sets, 2 do
    local f, v = sets[i], sets[i + 1]
    if f == 'meta' then
      extra = { 'meta', v }
    elseif f == 's_limit' or f == 'd_limit' then
      a[f] = tonumber(v)
    else
      a[f] = v
    end
  end
  saveAgent(agentKey, a, unpack(extra))
end
emit(now, ARGV[4], stateFields(agentKey, a,
  { 'type', ARGV[3], 'agent_id', ARGV[2], 'actor', ARGV[5] }))
flushEvents(outbox)
local x = rcall('HMGET', agentKey, 'created', 'meta')
return { 0, { tonumber(x[1]), x[2] }, statusOf(a, dayCostOf(agentKey, a, now), now) }
