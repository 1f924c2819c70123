--[[
  registerAgent: create an agent with its limits, key digest and first session,
  in a pool when given (on its hierarchy's shard; the pool must exist there).
  Safe to run twice: an agent that exists with the same key digest is the
  same creation (the key is made by the caller before it sends), answered as
  it is with nothing written; with another digest it is a CONFLICT.
  An agent id is unique across shards: on its home shard, the directory
  (includes/pools.lua P.missing) says when it lives elsewhere (ELSEWHERE, nothing
  written); an agent created away from its home shard was claimed there first
  (lua/claimAgent-2.lua, ARGV[17] the claim's time), and is not created under a
  claim older than CLAIM_MS (STALE_CLAIM: the caller claims again).

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents   (set of agent ids in the shard)
  KEYS[3] outbox stream  tg:{s<n>}:outbox
  (derived, same hash tag: the leases zset <agent>:leases, created with its sentinel;
   the pool's hierarchy tg:{s<n>}:pool:<root>; the directory tg:{s<n>}:dir)

  ARGV[1]  offsetMs       integer ms added to TIME (tests only)
  ARGV[2]  agentId        string
  ARGV[3]  role           string
  ARGV[4]  sessionLimit   integer tokens
  ARGV[5]  dailyLimit     integer micro-dollars
  ARGV[6]  keyDigest      string, sha-256 hex of the agent's API key
  ARGV[7]  metadata       string, JSON text
  ARGV[8]  sessionId      string, the first session's id <agentId>.<nonce>
  ARGV[9]  eventTail      string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx' (its last
                          4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[10] actor          string
  ARGV[11] rpm            integer requests per minute (0 = no limit; includes/rate.lua)
  ARGV[12] tpm            integer tokens per minute (0 = no limit)
  ARGV[13] monthlyLimit   integer micro-dollars a month (absent or 0 = no limit)
  ARGV[14] zoneText       string, the time zone's offsets (src/engine/periods.ts zoneTextAt;
                          absent or '': UTC), stored as field `z`; its name goes in the state
  ARGV[15] poolId         string, the pool to put it in ('' or absent: none)
  ARGV[16] root           string, the pool's root (its hierarchy is on this shard)
  ARGV[17] claimTime      integer ms, when the agent's home shard claimed the id for this
                          shard ('' or absent: this is its home shard)
  ARGV[18] mode           'find': only answer an agent that exists (AGENT_NOT_FOUND and
                          nowMs else, nothing written); '' or absent: create

  Outbox: one entry (events.lua) holding the `agent_registered` event (OK only).

  Returns { OK, { createdMs, metadata, replayed (0|1) }, state, nowMs },
  { ELSEWHERE, shard }, { AGENT_NOT_FOUND, nowMs } (find), or { code }
  (state: the packed state, includes/agent.lua stateReply)
  Codes: OK (replayed 1: the same creation, nothing written),
         CONFLICT (the agent exists with another key; nothing written),
         POOL_NOT_FOUND, STALE_CLAIM, ELSEWHERE, MOVING, AGENT_NOT_FOUND (find)
         (nothing written),
         SHARD_NOT_READY (the shard has no ready marker: Redis may have lost it;
         nothing written: recover the shard, then register)
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
--- @include "includes/ready"

-- How long a claim of the id on its home shard lets this shard create the agent.
local CLAIM_MS = 30000
local agentKey, index, outbox = KEYS[1], KEYS[2], KEYS[3]
POOLS.key = agentKey
local agentId = ARGV[2]
local now = nowMs(ARGV[1])
local poolId, claimTime = ARGV[15] or '', ARGV[17] or ''
local existing, created, meta = loadAgent(agentKey, nil, 'created', 'meta')
if existing then
  if existing.digest ~= ARGV[6] then return { C.CONFLICT } end
  return { C.OK, { tonumber(created), meta, 1 }, stateReply(agentKey, existing, now), now }
end
local code, shard = pools().missing(agentKey, agentId)
if code ~= C.AGENT_NOT_FOUND then return { code, shard } end
if ARGV[18] == 'find' then return { C.AGENT_NOT_FOUND, now } end
if claimTime ~= '' and now - tonumber(claimTime) > CLAIM_MS then return { C.STALE_CLAIM } end
local chain, pool = '', nil
if poolId ~= '' then
  pool = pools().get(ARGV[16], poolId)
  if not pool then return { C.POOL_NOT_FOUND } end
  chain = pool.chain
end

local zt = ARGV[14] or ''
local a = newAgent(ARGV[3], 'active', ARGV[8], now, tonumber(ARGV[4]), tonumber(ARGV[5]), 0, 0, 0,
  ARGV[6], 0, now + KEEP_MS, tonumber(ARGV[11]) or 0, tonumber(ARGV[12]) or 0,
  tonumber(ARGV[13]) or 0, string.match(zt, '^[^|]*'), chain)
a.zt = zt
saveAgent(agentKey, a, 'created', now, 'meta', ARGV[7], 'z', zt)
if pool then
  pool.agents = pool.agents + 1
  pools().touch(pool)
  if POOLS.lib then POOLS.lib.flush() end
end
rcall('ZADD', agentKey .. ':leases', '+inf', LEASE_SENTINEL)
rcall('SADD', index, agentId)
emit(now, ARGV[9], stateFields(agentKey, a,
  { 'type', 'agent_registered', 'agent_id', agentId, 'actor', ARGV[10] }))
flushEvents(outbox)
return { C.OK, { now, ARGV[7], 0 }, stateReply(agentKey, a, now), now }
