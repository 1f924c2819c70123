--[[
  registerAgent: create an agent with its limits, key digest and first session.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents   (set of agent ids in the shard)
  KEYS[3] outbox stream  tg:{s<n>}:outbox

  ARGV[1]  offsetMs       integer ms added to TIME (tests only)
  ARGV[2]  agentId        string
  ARGV[3]  role           string
  ARGV[4]  sessionLimit   integer tokens
  ARGV[5]  dailyLimit     integer micro-dollars
  ARGV[6]  keyDigest      string, sha-256 hex of the agent's API key
  ARGV[7]  metadata       string, JSON text
  ARGV[8]  sessionNonce   string, the first session id is <agentId>.<nonce>
  ARGV[9]  eventTail      string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                          4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[10] actor          string

  Outbox: one entry (events.lua) holding the `agent_registered` event.

  Returns { code, { createdMs, metadata }, statusTuple }
  Codes: 0 registered, 11 CONFLICT (the agent exists; nothing written),
         14 SHARD_NOT_READY (the shard has no ready marker: Redis may have lost it;
         nothing written: recover the shard, then register)
]]
local rcall = redis.call
--- @include "includes/clock"
--- @include "includes/agent"
--- @include "includes/events"
--- @include "includes/ready"

local agentKey, index, outbox = KEYS[1], KEYS[2], KEYS[3]
local agentId = ARGV[2]
local now = nowMs(ARGV[1])
if rcall('EXISTS', agentKey) == 1 then return { 11, {}, {} } end
if not shardReady(agentKey) then return { 14, {}, {} } end

local sid = agentId .. '.' .. ARGV[8]
local a = newAgent(ARGV[3], 'active', sid, now, tonumber(ARGV[4]), tonumber(ARGV[5]), 0, 0, 0, ARGV[6])
saveAgent(agentKey, a, 'created', now, 'meta', ARGV[7])
rcall('SADD', index, agentId)
emit(now, ARGV[9], stateFields(agentKey, a,
  { 'type', 'agent_registered', 'agent_id', agentId, 'actor', ARGV[10] }))
flushEvents(outbox)
return { 0, { now, ARGV[7] }, statusOf(a, dayCostOf(agentKey, a, now), now) }
