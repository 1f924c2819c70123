--[[
  Holds and idempotency records: fields of the agent hash (includes/agent.lua),
  indexed by the agent's leases zset <agentKey>:leases, whose members are
  those field names:
    h:<nonce>  an open hold, scored by its lease end (ms, > 0);
               then its record (settled, released, expired) or a denial's,
               scored as a tombstone;
    r:<req>, u:<usage>  request and usage ids, scored as tombstones;
    LEASE_SENTINEL, scored +inf: it keeps the zset a skiplist (see below).
  A tombstone's score is (the ms when it may go) - TOMB_BASE: below 0, so
  open leases (score 0..now) and due tombstones (the lowest ranks) are found
  apart. Records are kept KEEP_MS after they are made or closed: a command
  run twice within that time finds the first run's record and answers it.

  Texts (US = \31, which no value holds: ids follow strict patterns, numbers
  are digits):
    open hold  \3 US sid US tok US cost US rin US rout US op US model US exp US req,
               then US pools when made under pools (the chain, leaf first,
               joined by '|': includes/pools.lua)
    closed     \5 US st (settled|released|expired) <the open hold's text from
               its first US> US in US out US charged US result US ovrTok US ovrCost
    denial     \4 US code, then US <ms when it may pass> for a rate limit's, then
               US <pool id> for a pool's (its ms then 0 when not a rate limit)
    r:<req>    nonce US fingerprint (operation|estimate|model, then |holdCost when priced)
    u:<usage>  kind (s: a settle by operation, u: a usage) US fingerprint US
               cost US nonce (the cost charged: a repeat that gives a cost must give it)
  Needs: agent.lua, events.lua, clock.lua, pools.lua; `freeBudget` set by the script.
]]
local US = '\31'
local KEEP_MS = 3600000
local TOMB_BASE = 10000000000000
local PURGE_EVERY_MS = 60000
local PURGE_MAX = 1000
-- Longer than zset-max-listpack-value (64 by default): Redis keeps the zset a
-- skiplist from its creation. A listpack zset costs a scan of every member
-- per ZADD (an agent with 100 open holds: ~40k instructions per decision,
-- measured); a skiplist costs log(n). Added when the agent is created.
local LEASE_SENTINEL = 'tollgate-sentinel:keeps-this-zset-a-skiplist:adding-a-hold-costs-log(n)-not-n'
-- Holds freed by this call so far may not pass this (set from ARGV by the script).
local freeBudget = 0

-- The patterns of an open hold's text and a closed record's (constant text: built per call,
-- they would cost every call their concatenations).
local OPEN = '^\3\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$'
local CLOSED = '^\5\31([^\31]*)(\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$'

local function tombScore(now)
  return now + KEEP_MS - TOMB_BASE
end

local function packHold(sid, tok, cost, rin, rout, op, model, exp, req)
  return '\3\31' .. sid .. '\31' .. tok .. '\31' .. cost .. '\31' .. rin .. '\31' .. rout .. '\31'
    .. op .. '\31' .. model .. '\31' .. exp .. '\31' .. req
end

-- A record's values: { st, sid, tok, cost, rin, rout, op, model, exp, req, pools, hold, in,
-- out, charged, result, ovrT, ovrC } (numbers as numbers; `hold` the open hold's text), or
-- { st = 'denied', code, retryAt, pool } for a denial; nil for no record.
local function readRecord(v)
  if not v then return nil end
  local b = string.byte(v, 1)
  local r
  if b == 3 then
    r = { st = 'open', hold = v }
  elseif b == 5 then
    local st, body, i, o, ch, res, ot, oc = string.match(v, CLOSED)
    if not st then
      -- A hold made under pools: one value more, its pools (the pattern is CLOSED's but for it).
      st, body, i, o, ch, res, ot, oc = string.match(v, '^\5\31([^\31]*)(\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$')
    end
    r = { st = st, hold = '\3' .. body, inTok = tonumber(i), outTok = tonumber(o),
      charged = tonumber(ch), result = res, ovrT = tonumber(ot), ovrC = tonumber(oc) }
  else
    local code, at, pool = string.match(v, '^\4\31(%d+)\31?(%d*)\31?(.*)$')
    return { st = 'denied', code = tonumber(code), retryAt = tonumber(at) or 0, pool = pool }
  end
  local sid, tok, cost, rin, rout, op, model, exp, req = string.match(r.hold, OPEN)
  local chain = ''
  if not sid then
    -- A hold made under pools: its pools last (the pattern is OPEN's but for them).
    sid, tok, cost, rin, rout, op, model, exp, req, chain = string.match(r.hold, '^\3\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$')
  end
  r.sid, r.tok, r.cost, r.rin, r.rout, r.op, r.model, r.exp, r.req, r.pools =
    sid, tonumber(tok), tonumber(cost), tonumber(rin), tonumber(rout), op, model, tonumber(exp), req,
    chain
  return r
end

-- A closed record's text from the hold's (r.hold).
local function closedText(st, r, inTok, outTok, charged, result, ovrT, ovrC)
  return '\5\31' .. st .. string.sub(r.hold, 2) .. '\31' .. inTok .. '\31' .. outTok .. '\31'
    .. charged .. '\31' .. result .. '\31' .. ovrT .. '\31' .. ovrC
end

-- `cmd key v1 v2 …` in chunks of at most 1000 values (Lua's unpack has a stack limit).
local function callMany(cmd, key, values, step)
  for i = 1, #values, step do
    rcall(cmd, key, unpack(values, i, math.min(i + step - 1, #values)))
  end
end

local function hmgetMany(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = rcall('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for k = 1, #part do out[i + k - 1] = part[k] end
  end
  return out
end

-- Sets a.next_exp to the earliest open lease's end (0: none).
local function nextLease(leasesKey, a)
  local first = rcall('ZRANGEBYSCORE', leasesKey, 0, '+inf', 'LIMIT', 0, 1, 'WITHSCORES')
  a.next_exp = (first[1] and first[1] ~= LEASE_SENTINEL) and tonumber(first[2]) or 0
end

--[[
  Frees the agent's holds whose lease has passed (their worker died), oldest
  first, at most `freeBudget` for the whole script call: each keeps its record
  (expired), so a late settle still records its usage, and emits its `release`
  event (result lease_expired): the caller must flushEvents(outbox) on every
  path after this. The shard's tg:{s<n>}:stats hash counts them (leases_freed).
  Marks `a` dirty (the caller saves it). Returns the number freed.
]]
local function freeExpired(agentKey, leasesKey, a, agentId, now, tail)
  if a.next_exp == 0 or a.next_exp > now or freeBudget <= 0 then return 0 end
  local due = rcall('ZRANGEBYSCORE', leasesKey, 0, now, 'LIMIT', 0, freeBudget)
  local freed = 0
  if #due > 0 then
    local values = hmgetMany(agentKey, due)
    local sets, scores = {}, {}
    local tomb = tombScore(now)
    for i = 1, #due do
      local r = readRecord(values[i])
      if r and r.st == 'open' then
        a.s_res = a.s_res - r.tok
        a.c_res = a.c_res - r.cost
        sets[#sets + 1] = due[i]
        sets[#sets + 1] = closedText('expired', r, '', '', '', '', '', '')
        local ev = { 'type', 'release', 'agent_id', agentId, 'session_id', a.sid,
          'role', a.role, 'operation', r.op, 'reservation_id', agentId .. '.' .. string.sub(due[i], 3),
          'request_id', r.req, 'input_tokens', 0, 'output_tokens', 0, 'cost', 0,
          'result', 'lease_expired', 'actor', 'system' }
        if r.pools ~= '' then
          -- Freed under every pool it was made under too (includes/pools.lua; the caller flushes).
          pools().close(r.pools, r.cost, true, 0, nil, now)
          ev[#ev + 1], ev[#ev + 2] = 'pools', r.pools
        end
        emit(now, tail, ev)
        freed = freed + 1
      end
      scores[#scores + 1] = tomb
      scores[#scores + 1] = due[i]
    end
    if #sets > 0 then callMany('HSET', agentKey, sets, 1000) end
    callMany('ZADD', leasesKey, scores, 1000)
    freeBudget = freeBudget - #due
    if freed > 0 then
      rcall('HINCRBY', string.match(agentKey, '^(.-)agent:') .. 'stats', 'leases_freed', freed)
    end
  end
  nextLease(leasesKey, a)
  a.dirty = true
  return freed
end

-- Forgets the records whose time has passed (at most PURGE_MAX per call, at most
-- once a PURGE_EVERY_MS per agent while none is left over). Marks `a` dirty when it ran.
local function purgeRecords(agentKey, leasesKey, a, now)
  if a.p_next > now then return end
  local due = rcall('ZRANGEBYSCORE', leasesKey, '-inf', now - TOMB_BASE, 'LIMIT', 0, PURGE_MAX)
  if #due > 0 then
    callMany('HDEL', agentKey, due, 1000)
    rcall('ZREMRANGEBYRANK', leasesKey, 0, #due - 1)
  end
  a.p_next = #due == PURGE_MAX and now or now + PURGE_EVERY_MS
  a.dirty = true
end

-- The work every script that touches an existing agent does first (after its checks).
local function tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
  freeExpired(agentKey, leasesKey, a, agentId, now, tail)
  purgeRecords(agentKey, leasesKey, a, now)
end
