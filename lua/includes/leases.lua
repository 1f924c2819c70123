--[[
  Holds. An open hold is field `h:<nonce>` of the agent hash: packHold(sid,
  tok, cost, rin, rout, op, model, exp, req), a text (written with the
  agent's state in one HSET by authorize). When it closes (settled, released, lease
  expired) the field goes and its record moves to <agent>:res:<nonce>, a hash
  (st done|expired, sid, tok, cost, rin, rout, op, model, req, and what the
  close adds), kept for an hour so a repeated or late settle is answered.
  readHold returns the fields in this order: { st, sid, tok, cost, rin, rout,
  op, model, req } (st 'open' for a field), or a table with a nil st if there
  is no such hold.
]]
-- An open hold's text: \3 (the format's version) then its values as text, each
-- after a \31 (ids, names and numbers: none holds \31). All of them are texts
-- the caller already has (ARGV, the call's lease end), so building it formats
-- no number.
local function packHold(sid, tok, cost, rin, rout, op, model, exp, req)
  return '\3\31' .. sid .. '\31' .. tok .. '\31' .. cost .. '\31' .. rin .. '\31' .. rout .. '\31'
    .. op .. '\31' .. model .. '\31' .. exp .. '\31' .. req
end

-- An open hold's values: sid, tok, cost, rin, rout, op, model, exp, req (numbers as text).
local function unpackHold(v)
  if string.byte(v, 1) == 3 then
    return string.match(v,
      '^\3\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$')
  end
  return cmsgpack.unpack(v) -- the earlier format
end

local function readHold(agentKey, nonce)
  local v = rcall('HGET', agentKey, 'h:' .. nonce)
  if v then
    local sid, tok, cost, rin, rout, op, model, _, req = unpackHold(v)
    return { 'open', sid, tok, cost, rin, rout, op, model, req }
  end
  return rcall('HMGET', agentKey .. ':res:' .. nonce, 'st', 'sid', 'tok', 'cost', 'rin', 'rout',
    'op', 'model', 'req')
end

-- Closes the open hold `h` (from readHold): drops its field, keeps its record
-- with state `st` and the extra field/value pairs for an hour.
local function closeHold(agentKey, nonce, h, st, ...)
  rcall('HDEL', agentKey, 'h:' .. nonce)
  local rk = agentKey .. ':res:' .. nonce
  rcall('HSET', rk, 'st', st, 'sid', h[2], 'tok', h[3], 'cost', h[4], 'rin', h[5], 'rout', h[6],
    'op', h[7], 'model', h[8], 'req', h[9], ...)
  rcall('PEXPIRE', rk, 3600000)
end

--[[
  Frees holds whose lease has passed (their worker died): at most `maxFree` per
  call, oldest first, so the work per call is bounded. Each freed hold keeps its
  record (st=expired) for an hour, so a late settle still records its usage.
  The shard's `tg:{s<n>}:stats` hash counts the holds freed so (field
  leases_freed; written only when a lease actually expired).
  Each freed hold emits its `release` event (result lease_expired): the caller
  must flushEvents(outbox) before it returns, on every path after this call.
  Needs: agent.lua, events.lua.
]]
-- A member of every leases zset that has held a hold, scored +inf (never due):
-- longer than zset-max-listpack-value (64 by default), so Redis keeps the zset
-- a skiplist. A listpack zset costs a scan of every member per ZADD (an agent
-- with 100 open holds: ~40k instructions per decision, measured); a skiplist
-- costs log(n). authorize adds it with the first hold (next_exp == 0).
local LEASE_SENTINEL = 'tollgate-sentinel:keeps-this-zset-a-skiplist:adding-a-hold-costs-log(n)-not-n'

local function freeExpired(agentKey, leasesKey, a, agentId, now, maxFree, tail)
  if a.next_exp == 0 or a.next_exp > now then return end
  local due = rcall('ZRANGEBYSCORE', leasesKey, '-inf', now, 'LIMIT', 0, maxFree)
  local freed = 0
  for i = 1, #due do
    local h = readHold(agentKey, due[i])
    if h[1] == 'open' then
      if h[2] == a.sid then a.s_res = a.s_res - tonumber(h[3]) end
      a.c_res = a.c_res - tonumber(h[4])
      closeHold(agentKey, due[i], h, 'expired')
      emit(now, tail, { 'type', 'release', 'agent_id', agentId, 'session_id', h[2],
        'role', a.role, 'operation', h[7], 'reservation_id', agentId .. '.' .. due[i],
        'request_id', h[9], 'input_tokens', 0, 'output_tokens', 0, 'cost', 0,
        'result', 'lease_expired', 'actor', 'system' })
      freed = freed + 1
    end
  end
  if #due > 0 then rcall('ZREM', leasesKey, unpack(due)) end
  if freed > 0 then
    rcall('HINCRBY', string.match(agentKey, '^(.-)agent:') .. 'stats', 'leases_freed', freed)
  end
  local first = rcall('ZRANGE', leasesKey, 0, 0, 'WITHSCORES')
  a.next_exp = first[1] ~= LEASE_SENTINEL and tonumber(first[2]) or 0
  a.dirty = true
end
