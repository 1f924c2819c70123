--[[
  Holds left behind (docs/limits.md, "Moves"; docs/engine.md, "Moves across
  shards"). An agent moved to a pool whose hierarchy is on another shard takes
  its open holds with it (their records and leases, lua/copyAgent-3.lua), but
  a hold made under pools of a hierarchy on the shard it leaves stays held
  there, under those pools, until the hold ends. Its pool part is kept on that
  shard, per hold:
    tg:{s<n>}:left         hash  <agentId>.<nonce> -> st US chain US held US tok
                           (st: o open, e expired (its lease passed: freed), c closed;
                           chain as the hold's, held its cost (µ$), tok its tokens)
    tg:{s<n>}:left:leases  zset  the same members: an open one scored by its lease end
                           (ms), the others as tombstones (includes/records.lua tombScore),
                           forgotten KEEP_MS after they are
  The hold's settle or release on the agent's shard notes what it closed in
  that shard's tg:{s<m>}:carry (includes/pools.lua P.carry), then closes the
  pool part here (lua/closeLeftHold-1.lua), as a settle here would have; the
  sweep frees a part whose lease passed (lua/sweepShard-2.lua) and carries
  what a lost step did not (src/engine/redis/ops/closeLeftHold.ts). A part
  closed twice is closed once.
  Needs: records.lua (readRecord, hmgetMany, tombScore, TOMB_BASE), pools.lua
  (POOLS.key set), rcall.
]]
local LEFT = {}

-- The shard's two keys (`anyKey`: a key of the shard).
function LEFT.keys(anyKey)
  local tag = string.match(anyKey, '^(.-}:)')
  return tag .. 'left', tag .. 'left:leases'
end

--[[
  freezeAgent: notes, for each open hold of the agent made under pools whose
  hierarchy is on this shard, its pool part, which stays here. Returns how
  many.
]]
function LEFT.leave(agentKey, leasesKey, agentId)
  local ids = rcall('ZRANGEBYSCORE', leasesKey, 0, '+inf')
  local fields = {}
  for i = 1, #ids do
    if string.sub(ids[i], 1, 2) == 'h:' then fields[#fields + 1] = ids[i] end
  end
  if #fields == 0 then return 0 end
  local left, leases = LEFT.keys(agentKey)
  local values = hmgetMany(agentKey, fields)
  local n = 0
  for i = 1, #fields do
    local r = readRecord(values[i])
    if r and r.st == 'open' and r.pools ~= '' then
      local root = pools().chainOf(r.pools).root
      if rcall('EXISTS', pools().key(root)) == 1 then
        local resId = agentId .. '.' .. string.sub(fields[i], 3)
        rcall('HSET', left, resId, 'o\31' .. r.pools .. '\31' .. r.cost .. '\31' .. r.tok)
        rcall('ZADD', leases, r.exp, resId)
        n = n + 1
      end
    end
  end
  return n
end

--[[
  copyAgent and thawAgent: the agent's open holds are on this shard again (it
  came back, or its move was undone): the pool parts they left here are
  theirs again (a settle here closes the pools itself).
]]
function LEFT.reclaim(agentKey, leasesKey, agentId)
  local left, leases = LEFT.keys(agentKey)
  if rcall('EXISTS', left) == 0 then return end
  local ids = rcall('ZRANGEBYSCORE', leasesKey, 0, '+inf')
  for i = 1, #ids do
    if string.sub(ids[i], 1, 2) == 'h:' then
      local resId = agentId .. '.' .. string.sub(ids[i], 3)
      rcall('HDEL', left, resId)
      rcall('ZREM', leases, resId)
    end
  end
end

-- A part's values: st, chain, held, tok (numbers as numbers), or nil.
local function leftOf(v)
  if not v then return nil end
  local st, chain, held, tok = string.match(v, '^(%a)\31([^\31]*)\31([^\31]*)\31([^\31]*)$')
  return st, chain, tonumber(held), tonumber(tok)
end

--[[
  closeLeftHold: closes the part of hold `resId` with the settle's `used`
  tokens (nil: a release) and `cost` (µ$): an open part frees its cost under
  each pool, the cost is charged and the tokens per minute corrected (used -
  held; a release: - held), as P.close does for a hold here. Returns its chain
  (the pools charged), or nil when there is no part or it was closed already
  (nothing written).
]]
function LEFT.close(anyKey, resId, used, cost, now)
  local left, leases = LEFT.keys(anyKey)
  local st, chain, held, tok = leftOf(rcall('HGET', left, resId))
  if not st or st == 'c' then return nil end
  local delta = used and used - tok or -tok
  pools().close(chain, held, st == 'o', cost, delta, now)
  rcall('HSET', left, resId, 'c\31' .. chain .. '\31' .. held .. '\31' .. tok)
  rcall('ZADD', leases, tombScore(now), resId)
  return chain
end

--[[
  sweepShard: frees the parts whose lease passed (at most `max`), as an expired
  hold is freed (its cost no longer held; a late settle still charges it), and
  forgets those whose time has passed. Returns how many it freed.
]]
function LEFT.sweep(anyKey, now, max)
  local left, leases = LEFT.keys(anyKey)
  if rcall('EXISTS', leases) == 0 then return 0 end
  local freed = 0
  local due = max > 0 and rcall('ZRANGEBYSCORE', leases, 0, now, 'LIMIT', 0, max) or {}
  if #due > 0 then
    local values = hmgetMany(left, due)
    local tomb = tombScore(now)
    for i = 1, #due do
      local st, chain, held, tok = leftOf(values[i])
      if st == 'o' then
        pools().close(chain, held, true, 0, nil, now)
        rcall('HSET', left, due[i], 'e\31' .. chain .. '\31' .. held .. '\31' .. tok)
        freed = freed + 1
      end
      rcall('ZADD', leases, tomb, due[i])
    end
  end
  local gone = rcall('ZRANGEBYSCORE', leases, '-inf', now - TOMB_BASE, 'LIMIT', 0, 1000)
  if #gone > 0 then
    callMany('HDEL', left, gone, 1000)
    callMany('ZREM', leases, gone, 1000)
  end
  return freed
end
