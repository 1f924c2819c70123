--[[
  createPool: a new pool in the hierarchy of its root (a root makes a new
  hierarchy), at most 3 levels deep (docs/limits.md, "Pools"). The same create
  again (same parent, limits and zone) answers the pool with nothing written;
  other settings under the id are POOL_EXISTS. A pool id is unique across
  shards: its own shard's pool directory names its root. When that is this
  shard (ARGV[12] ''), the directory is checked and written here; else the
  caller claimed the id there first (lua/claimPool-1.lua), and no pool is
  created under a claim older than CLAIM_MS (STALE_CLAIM: claim again).

  KEYS[1] hierarchy  tg:{s<n>}:pool:<rootId>  (n: the root's shard)
  KEYS[2] outbox     tg:{s<n>}:outbox
  (derived, same hash tag: the shard's hierarchies tg:{s<n>}:pools, its pool
   directory tg:{s<n>}:pooldir, the ready marker)

  ARGV[1]  offsetMs   integer ms added to TIME (tests only)
  ARGV[2]  eventTail  string, UUIDv7 random tail '-7xxx-yxxx-xxxxxxxxxxxx'
  ARGV[3]  actor      string
  ARGV[4]  poolId     string
  ARGV[5]  parentId   string ('' = a root: poolId is the root)
  ARGV[6]  dLimit     integer µ$ a local day (0 = none)
  ARGV[7]  mLimit     integer µ$ a local month (0 = none)
  ARGV[8]  rpm        integer requests per minute (0 = none)
  ARGV[9]  tpm        integer tokens per minute (0 = none)
  ARGV[10] zoneText   string, the zone's offsets (src/engine/periods.ts zoneTextAt)
  ARGV[11] replace    string, a pool directory entry of this shard the caller found
                      stale ('' = none; with ARGV[12] '')
  ARGV[12] claimTime  integer ms, when the pool id's own shard claimed it ('' = this shard)

  Outbox: one entry (events.lua) with the `pool_created` event (OK, not a repeat).

  Returns { OK, status… (includes/pools.lua P.reply), nowMs },
  { ELSEWHERE, entry } (this shard's pool directory names another root for the id:
  the caller checks that hierarchy, whose shard it knows), or { code }.
  Codes: OK, POOL_EXISTS, POOL_NOT_FOUND (the parent), POOL_TOO_DEEP, STALE_CLAIM,
  ELSEWHERE, SHARD_NOT_READY (all but OK: nothing written).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/ready"

local CLAIM_MS = 30000
local MAX_DEPTH = 3
local hier, outbox = KEYS[1], KEYS[2]
local poolId, parentId, zt = ARGV[4], ARGV[5], ARGV[10]
local zone = string.match(zt, '^[^|]*')
local dLimit, mLimit, rpm, tpm = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now = nowMs(ARGV[1])
POOLS.key = hier
local root = string.match(hier, ':pool:(.*)$')

local function answer(p)
  local out = pools().reply(p, now)
  table.insert(out, 1, C.OK)
  out[#out + 1] = now
  return out
end

local prior = pools().get(root, poolId)
if prior then
  if prior.parent == parentId and prior.d_limit == dLimit and prior.m_limit == mLimit
    and prior.rpm == rpm and prior.tpm == tpm and prior.zone == zone then
    return answer(prior)
  end
  return { C.POOL_EXISTS }
end
local tag = string.match(hier, '^(.-}:)')
local claimTime = ARGV[12]
if claimTime == '' then
  local e = rcall('HGET', tag .. 'pooldir', poolId)
  if e and e ~= ARGV[11] and string.match(e, '^([^:]*)') ~= root then return { C.ELSEWHERE, e } end
elseif now - tonumber(claimTime) > CLAIM_MS then
  return { C.STALE_CLAIM }
end
local parent = nil
if parentId ~= '' then
  parent = pools().get(root, parentId)
  if not parent then return { C.POOL_NOT_FOUND } end
  if parent.depth >= MAX_DEPTH then return { C.POOL_TOO_DEEP } end
end
if not shardReady(hier) then return { C.SHARD_NOT_READY } end

local p = { id = poolId, root = root, parent = parentId, zone = zone,
  chain = parent and poolId .. '|' .. parent.chain or poolId, depth = parent and parent.depth + 1 or 1,
  d_limit = dLimit, m_limit = mLimit, rpm = rpm, tpm = tpm, r_tat = 0, r_frac = 0, t_tat = 0,
  t_frac = 0, c_res = 0, c_day = 0, c_dcost = 0, c_mon = 0, c_mcost = 0, agents = 0, children = 0,
  created = now, zt = (zone ~= 'UTC' and zone ~= '') and zt or false }
pools().cache[poolId] = p
pools().touch(p)
if zone ~= 'UTC' and zone ~= '' then rcall('HSET', hier, 'z:' .. poolId, zt) end
if parent then
  parent.children = parent.children + 1
  pools().touch(parent)
else
  rcall('SADD', tag .. 'pools', root)
end
if claimTime == '' then rcall('HSET', tag .. 'pooldir', poolId, root .. ':' .. now) end
if POOLS.lib then POOLS.lib.flush() end
pools().event(now, ARGV[2], 'pool_created', p, ARGV[3])
flushEvents(outbox)
return answer(p)
