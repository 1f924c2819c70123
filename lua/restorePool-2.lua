--[[
  restorePool: put back one pool hierarchy of a shard being recovered, as the
  durable store has it (docs/recovery.md, "What is restored"): each pool's
  parent, limits, zone, creation time, its counts of agents and child pools,
  and the spend of its day and month local to its zone at the snapshot's
  instant, tagged with that day and month as includes/pools.lua keeps them
  (a spend of another period counts as 0 when it is read), with the budget
  alerts already fired in them (their marks). Holds and the
  rate limits' arrival times start empty, as an agent's. Atomic and
  idempotent: writes only while the shard is not yet ready and the hierarchy
  does not exist (another process restoring the same shard wins). Emits no
  event: the store already has the pools' events.

  KEYS[1] hierarchy     tg:{s<n>}:pool:<rootId>  (n: the root's shard)
  KEYS[2] ready marker  tg:{s<n>}:ready
  (derived, same hash tag: the shard's hierarchies tg:{s<n>}:pools)

  ARGV[1]  offsetMs  integer ms added to TIME (tests only)
  ARGV[2]  atMs      integer ms, the snapshot's instant: each pool's spend is of its
                     local day and month then (periodAt in its zone)
  ARGV[3]  n         integer, the number of pools; then 13 values per pool, the root
                     first and each pool after its parent:
    poolId, parentId ('' for the root), zoneText (src/engine/periods.ts zoneTextAt;
    its name first), dLimit, mLimit (µ$ a local day, a local month; 0: none), rpm,
    tpm (0: none), created (ms), dayCost, monthCost (µ$), agents (directly in it;
    its children are counted here), dayAlerts, monthAlerts (the budget alert
    thresholds already fired in that day and month, joined by ',': '' none;
    restored as its marks `ad:<poolId>`, `am:<poolId>`, includes/alerts.lua)

  Returns { code }
  Codes: OK (restored), CONFLICT (the hierarchy exists; nothing written),
         SHARD_READY (the shard is ready already; nothing written),
         POOL_NOT_FOUND (a parent is not before its child, or the first pool is
         not the hierarchy's root; nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"

local hier, marker = KEYS[1], KEYS[2]
if rcall('EXISTS', marker) == 1 then return { C.SHARD_READY } end
if rcall('EXISTS', hier) == 1 then return { C.CONFLICT } end

local root = string.match(hier, ':pool:(.*)$')
local at, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local list, byId, extra = {}, {}, {}
-- The alert marks of `per` (its day or month) for the thresholds of `text` ('50,80'),
-- as includes/alerts.lua keeps them: '<period>|50|80|'.
local function mark(field, per, text)
  if text == '' then return end
  extra[#extra + 1] = field
  extra[#extra + 1] = per .. '|' .. string.gsub(text, ',', '|') .. '|'
end
for i = 0, n - 1 do
  local b = 4 + i * 13
  local id, parentId, zt = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local parent = nil
  if parentId == '' then
    if id ~= root or i > 0 then return { C.POOL_NOT_FOUND } end
  else
    parent = byId[parentId]
    if not parent then return { C.POOL_NOT_FOUND } end
  end
  local zone = string.match(zt, '^[^|]*')
  local utc = zone == 'UTC' or zone == ''
  local per = periodAt(at, utc and false or zt)
  local p = { id = id, root = root, parent = parentId, zone = zone,
    chain = parent and id .. '|' .. parent.chain or id, depth = parent and parent.depth + 1 or 1,
    d_limit = tonumber(ARGV[b + 3]), m_limit = tonumber(ARGV[b + 4]), rpm = tonumber(ARGV[b + 5]),
    tpm = tonumber(ARGV[b + 6]), r_tat = 0, r_frac = 0, t_tat = 0, t_frac = 0, c_res = 0,
    c_day = per.day, c_dcost = tonumber(ARGV[b + 8]), c_mon = per.month,
    c_mcost = tonumber(ARGV[b + 9]), agents = tonumber(ARGV[b + 10]), children = 0,
    created = tonumber(ARGV[b + 7]), zt = (not utc) and zt or false }
  if parent then parent.children = parent.children + 1 end
  byId[id] = p
  list[#list + 1] = p
  mark('ad:' .. id, per.day, ARGV[b + 11])
  mark('am:' .. id, per.month, ARGV[b + 12])
end

POOLS.key = hier
local P = pools()
for i = 1, #list do
  local p = list[i]
  P.cache[p.id] = p
  P.touch(p)
  if p.zt then rcall('HSET', hier, 'z:' .. p.id, p.zt) end
end
P.flush()
if #extra > 0 then rcall('HSET', hier, unpack(extra)) end
rcall('SADD', string.match(hier, '^(.-}:)') .. 'pools', root)
return { C.OK }
