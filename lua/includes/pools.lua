--[[
  Pools (docs/limits.md, "Pools"). A hierarchy (at most 3 levels) lives on its
  root's shard as ONE hash, tg:{s<n>}:pool:<rootId>, with per pool:
    p:<poolId>  its state, packed with `struct` (POOL_FORMAT, version byte 1):
                parent ('' for the root), zone (IANA name), chain (the pool and
                the pools above it, leaf first, joined by '|': what an agent in
                it is charged to; it never changes), then doubles depth (1: a
                root), d_limit, m_limit (µ$ a local day, a local month; 0: none),
                rpm, tpm (0: none), r_tat, r_frac, t_tat, t_frac (GCRA,
                includes/rate.lua), c_res (µ$ held now under the pool), c_day,
                c_dcost (the local date, yyyymmdd, its day's spend is of, and that
                spend), c_mon, c_mcost (the same for its month), agents, children
                (directly in it), created (ms)
    z:<poolId>  its zone's offsets (src/engine/periods.ts zoneTextAt), when not UTC
    ad:<poolId>, am:<poolId>  its budget alert marks of its day and month (includes/alerts.lua)
  Holds that moved to another shard with their agent: tg:{s<n>}:carry on the agent's
  shard (P.carry), tg:{s<n>}:left on the pools' (includes/left.lua).
  A spend tagged with another period than the one at Redis TIME in the pool's
  zone counts as 0: a new period starts at 0, decided here, in the atomic step
  that uses it (as the agent's period keys, includes/agent.lua).
  tg:{s<n>}:pools is the set of the shard's hierarchies (root ids); a pool's
  root is found in tg:{s<h>}:pooldir on the shard h of the pool's own id
  (poolId -> '<rootId>:<ms>', lua/claimPool-1.lua).
  Per script call each pool is read once, the first time it is needed, and
  written once, at the end: P.flush() (exact: the call is atomic).
  The functions are made only in a call that needs them: pools() answers them
  (P.check, P.hold, P.close, P.carry, P.carried, P.charge, P.get, P.touch, P.reply, P.event,
  P.moved, P.named, P.denied, P.missing, P.chainOf, P.load, P.key, P.cache), made
  on its first use, so a call for plain agents makes none of them (every function a
  script defines is made again on every call: 17 of them cost a plain decision
  call ~50k Redis instructions). Every script that may change a pool ends with
  `if POOLS.lib then POOLS.lib.flush() end`.
  Needs: codes.lua, period.lua, rate.lua, events.lua (and money.lua's pct, for
  P.denied: authorize-1 has it); the script sets POOLS.key (any key of its
  shard) first.
]]
-- POOLS.key: any key of the call's shard (the script sets it first); POOLS.lib: the
-- call's pools library, once pools() made it (one table: every top-level name a script
-- declares costs every function it makes after it, on every call). POOLS.amin: the lowest
-- budget alert threshold (includes/alerts.lua; nil: none), set by a script that charges;
-- POOLS.hot: a charge brought a pool to it (includes/alerts.lua poolAlerts then looks).
local POOLS = { key = nil, lib = nil, amin = nil, hot = false }

local function pools()
  local P = POOLS.lib
  if P then return P end
  P = {}
  POOLS.lib = P
  local POOL_FORMAT, POOL_VERSION = '<Bsssddddddddddddddddd', 1
  -- The shard's hash tag, the call's pools by id (false: not there), the changed ones
  -- by root, the chains by their text.
  local tag = string.match(POOLS.key, '^(.-}:)')
  local pcache, pdirty, pchains = {}, {}, {}
  P.cache = pcache

  local function key(root)
    return tag .. 'pool:' .. root
  end
  P.key = key

  local function unpackPool(v, id, root)
    local p = { id = id, root = root }
    local _
    _, p.parent, p.zone, p.chain, p.depth, p.d_limit, p.m_limit, p.rpm, p.tpm, p.r_tat, p.r_frac,
      p.t_tat, p.t_frac, p.c_res, p.c_day, p.c_dcost, p.c_mon, p.c_mcost, p.agents, p.children,
      p.created = struct.unpack(POOL_FORMAT, v)
    return p
  end

  local function packPool(p)
    return struct.pack(POOL_FORMAT, POOL_VERSION, p.parent, p.zone, p.chain, p.depth, p.d_limit,
      p.m_limit, p.rpm, p.tpm, p.r_tat, p.r_frac, p.t_tat, p.t_frac, p.c_res, p.c_day, p.c_dcost,
      p.c_mon, p.c_mcost, p.agents, p.children, p.created)
  end

  -- The ids of a chain's text, leaf first, and its root (c.root), parsed once per call.
  local function chainOf(text)
    local c = pchains[text]
    if not c then
      c = {}
      for id in string.gmatch(text, '[^|]+') do c[#c + 1] = id end
      c.root = c[#c]
      pchains[text] = c
    end
    return c
  end
  P.chainOf = chainOf

  -- Reads the pools of chain `c` this call has not read yet: one HMGET, and one HGET more
  -- for each whose zone is not UTC (its offsets, p.zt; false for UTC).
  local function load(c)
    local ids, fields = nil, nil
    for i = 1, #c do
      if pcache[c[i]] == nil then
        ids, fields = ids or {}, fields or {}
        ids[#ids + 1], fields[#fields + 1] = c[i], 'p:' .. c[i]
      end
    end
    if not ids then return end
    local k = key(c.root)
    local v = rcall('HMGET', k, unpack(fields))
    for i = 1, #ids do
      if v[i] then
        local p = unpackPool(v[i], ids[i], c.root)
        p.zt = (p.zone ~= 'UTC' and p.zone ~= '') and rcall('HGET', k, 'z:' .. ids[i]) or false
        pcache[ids[i]] = p
      else
        pcache[ids[i]] = false
      end
    end
  end
  P.load = load

  -- One pool of the hierarchy `root`, or nil.
  function P.get(root, id)
    if pcache[id] == nil then load({ id, root = root }) end
    return pcache[id] or nil
  end

  -- Marks a pool to write at the end of the call (flushPools).
  local function touch(p)
    if not p.dirty then
      p.dirty = true
      local d = pdirty[p.root]
      if not d then
        d = {}
        pdirty[p.root] = d
      end
      d[#d + 1] = p
    end
  end
  P.touch = touch

  -- The pool's period at `now` in its zone (periodAt), once per call.
  local function period(p, now)
    local per = p.per
    if not per then
      per = periodAt(now, p.zt)
      p.per = per
    end
    return per
  end

  -- The pool's spend of its local day and month at `now` (0 for a period it has not spent in).
  local function spend(p, now)
    local per = period(p, now)
    return p.c_day == per.day and p.c_dcost or 0, p.c_mon == per.month and p.c_mcost or 0
  end

  --[[
    authorize's checks of every pool of the chain `text`, leaf first, for a hold
    of `holdCost` µ$ and `tokens`: daily cost, monthly cost, requests and tokens
    per minute. All or nothing: nil (each level keeps its new arrival times
    aside, p.n_*, which P.hold stores once the hold is made: no table per
    decision), or the denial's code (POOL_*), its pool's id and, for a rate
    limit, the ms to wait. Changes nothing else.
  ]]
  function P.check(text, holdCost, tokens, now)
    local c = chainOf(text)
    load(c)
    for i = 1, #c do
      local p = pcache[c[i]]
      if p then
        local dcost, mcost = spend(p, now)
        if p.d_limit > 0 and dcost + p.c_res + holdCost > p.d_limit then
          return C.POOL_DAILY, p.id, 0
        end
        if p.m_limit > 0 and mcost + p.c_res + holdCost > p.m_limit then
          return C.POOL_MONTHLY, p.id, 0
        end
        if p.rpm > 0 or p.tpm > 0 then
          local rc, rT, rF, tT, tF = agentRate(p, tokens, now)
          if rc then
            return rc == C.RATE_REQUESTS and C.POOL_RATE_REQUESTS or C.POOL_RATE_TOKENS, p.id, rT
          end
          p.n_rt, p.n_rf, p.n_tt, p.n_tf = rT, rF, tT, tF
        end
      end
    end
    return nil
  end

  -- The hold made: each level holds its cost and takes the arrival times P.check set aside;
  -- from level `stop` (a pool id; nil: none) on, the levels keep theirs (a shadow decision
  -- that pool denied: includes/shadow.lua).
  function P.hold(text, holdCost, stop)
    local c = chainOf(text)
    local take = true
    for i = 1, #c do
      local p = pcache[c[i]]
      if p then
        if p.id == stop then take = false end
        p.c_res = p.c_res + holdCost
        if p.n_rt then
          if take then p.r_tat, p.r_frac, p.t_tat, p.t_frac = p.n_rt, p.n_rf, p.n_tt, p.n_tf end
          p.n_rt = nil
        end
        touch(p)
      end
    end
  end

  -- Adds `cost` µ$ to the pool's day and month at `now` (a new period starts at 0); notes
  -- a spend at or above the lowest alert threshold (POOLS.hot).
  local function charge(p, cost, now)
    local per = period(p, now)
    if p.c_day ~= per.day then p.c_day, p.c_dcost = per.day, 0 end
    if p.c_mon ~= per.month then p.c_mon, p.c_mcost = per.month, 0 end
    local d, m, a = p.c_dcost + cost, p.c_mcost + cost, POOLS.amin
    p.c_dcost, p.c_mcost = d, m
    if a and ((p.d_limit > 0 and d * 100 >= a * p.d_limit)
      or (p.m_limit > 0 and m * 100 >= a * p.m_limit)) then
      POOLS.hot = true
    end
  end

  --[[
    A hold closed under the pools of its chain `text` (a pool deleted since is
    skipped): `open` (it was still held) frees its cost `held`; `cost` (a
    settle's, 0 for none) goes to each level's day and month; `delta` (a
    settle: tokens used - held; a release: -held; nil for a lease's end)
    corrects each level's tokens per minute, as the agent's. Answers whether
    the hierarchy is on this shard (false: the hold moved here with its agent
    and its pools are elsewhere, or the hierarchy was deleted: P.carry).
  ]]
  function P.close(text, held, open, cost, delta, now)
    local c = chainOf(text)
    load(c)
    for i = 1, #c do
      local p = pcache[c[i]]
      if p then
        if open then p.c_res = math.max(0, p.c_res - held) end
        if cost > 0 then charge(p, cost, now) end
        if delta and delta ~= 0 and p.tpm > 0 then
          p.t_tat, p.t_frac = rateMove(p.t_tat, p.t_frac, p.tpm, delta, now)
        end
        touch(p)
      end
    end
    return pcache[c.root] ~= false
  end

  --[[
    A hold whose hierarchy is not on this shard (P.close answered false) was
    settled (`used` tokens, `cost` µ$) or released (`used` '') here: noted in
    tg:{s<n>}:carry as <agentId>.<nonce> -> root US used US cost until its
    pools' shard has closed it there (includes/left.lua). Answers the root.
  ]]
  function P.carry(resId, text, used, cost)
    local root = chainOf(text).root
    rcall('HSET', tag .. 'carry', resId, root .. '\31' .. used .. '\31' .. cost)
    return root
  end

  -- The root of hold `resId`'s hierarchy (chain `text`) while a close noted by P.carry
  -- has not been carried to it, else '' (a settle or release sent again answers it).
  function P.carried(resId, text)
    if rcall('HEXISTS', tag .. 'carry', resId) == 0 then return '' end
    return chainOf(text).root
  end

  -- Usage without a hold (recordUsage): `cost` to each level's day and month,
  -- `tokens` to its tokens per minute (counted, never refused).
  function P.charge(text, cost, tokens, now)
    if cost <= 0 and tokens <= 0 then return end
    local c = chainOf(text)
    load(c)
    for i = 1, #c do
      local p = pcache[c[i]]
      if p then
        if cost > 0 then charge(p, cost, now) end
        if tokens > 0 and p.tpm > 0 then
          p.t_tat, p.t_frac = rateMove(p.t_tat, p.t_frac, p.tpm, tokens, now)
        end
        touch(p)
      end
    end
  end

  -- Writes the pools this call changed: one HSET per hierarchy.
  function P.flush()
    for root, list in pairs(pdirty) do
      local args = {}
      for i = 1, #list do
        args[#args + 1] = 'p:' .. list[i].id
        args[#args + 1] = packPool(list[i])
        list[i].dirty = nil
      end
      rcall('HSET', key(root), unpack(args))
    end
    pdirty = {}
  end

  -- A pool's status as the pool scripts answer it (src/engine/redis/ops/getPool.ts reads it):
  -- id, parent, root, depth, zone, day, month, d_limit, day's cost, held, m_limit,
  -- month's cost, rpm, tpm, agents, children, created.
  function P.reply(p, now)
    local dcost, mcost = spend(p, now)
    local per = period(p, now)
    return { p.id, p.parent, p.root, p.depth, p.zone, per.day, per.month, p.d_limit, dcost, p.c_res,
      p.m_limit, mcost, p.rpm, p.tpm, p.agents, p.children, p.created }
  end

  -- pool_created, pool_updated, pool_deleted: the pool's settings (agent_id '').
  function P.event(now, tail, type, p, actor)
    emit(now, tail, { 'type', type, 'agent_id', '', 'pool_id', p.id, 'parent_id', p.parent,
      'root_id', p.root, 'daily_limit_micros', p.d_limit, 'monthly_limit_micros', p.m_limit,
      'requests_per_minute', p.rpm, 'tokens_per_minute', p.tpm, 'time_zone', p.zone,
      'actor', actor })
  end

  --[[
    Where an agent lives (docs/engine.md, "Where an agent lives"): a plain agent
    on its home shard, shardOf(agentId); an agent in a pool on its hierarchy's
    shard, the root's. For an agent that lives elsewhere, its home shard's
    directory tg:{s<h>}:dir holds agentId -> 'a<shard>:<ms>' (the shard, and when
    the entry was written); an agent being moved away from a shard has
    'm<shard>:<ms>' in THAT shard's directory while it is frozen (its hash
    renamed <agent>:frozen, lua/freezeAgent-3.lua). RedisEngine caches where
    agents live (src/engine/redis/ops/locate.ts).
    P.missing answers for an agent whose hash a script did not find (`anyKey`:
    a key of the shard): MOVING (being moved: call again shortly), ELSEWHERE and
    the shard (the directory says where), else AGENT_NOT_FOUND, or
    SHARD_NOT_READY when the shard has no ready marker (includes/ready.lua).
    Nothing is written.
  ]]
  function P.missing(anyKey, agentId)
    local t = string.match(anyKey, '^(.-}:)')
    local e = rcall('HGET', t .. 'dir', agentId)
    if e then
      local kind, s = string.match(e, '^(%a)(%d+)')
      if kind == 'm' then return C.MOVING end
      s = tonumber(s)
      if s ~= tonumber(string.match(t, '(%d+)}')) then return C.ELSEWHERE, s end
    end
    if rcall('EXISTS', t .. 'ready') == 1 then return C.AGENT_NOT_FOUND end
    return C.SHARD_NOT_READY
  end

  -- A pool's denial's error_code and exceeded (src/engine/codes.ts denialOf).
  function P.named(code)
    if code == C.POOL_RATE_REQUESTS then return 'RATE_LIMITED', 'requests_per_minute' end
    if code == C.POOL_RATE_TOKENS then return 'RATE_LIMITED', 'tokens_per_minute' end
    return 'BUDGET_EXCEEDED', 'pool'
  end

  -- authorize: a pool's denial's decision event, the positional decision event's fields
  -- by name (lua/authorize-1.lua decisionEvent), then `pool_id`.
  function P.denied(now, tail, pr, agentId, a, code, estimate, requestId, cUsed, poolId)
    local errorCode, exceeded = P.named(code)
    emitText(now, tail, 'type\31decision\31agent_id\31' .. agentId .. '\31session_id\31' .. a.sid
      .. '\31role\31' .. a.role .. '\31operation\31' .. pr.op .. '\31allowed\0310\31error_code\31'
      .. errorCode .. '\31exceeded\31' .. exceeded
      .. '\31estimated_tokens\31' .. estimate .. '\31cost\0310\31model\31' .. pr.model
      .. '\31reservation_id\31\31request_id\31' .. requestId .. '\31session_utilization\31'
      .. pct(a.s_used, a.s_limit) .. '\31daily_utilization\31' .. pct(cUsed, a.d_limit)
      .. '\31actor\31' .. pr.actor .. '\31pool_id\31' .. poolId)
  end

  -- agent_moved: the pool it is in now ('' none) and the one it left.
  function P.moved(now, tail, agentId, to, from, actor)
    emit(now, tail, { 'type', 'agent_moved', 'agent_id', agentId, 'pool_id', to,
      'from_pool_id', from, 'actor', actor })
  end

  return P
end
