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
local function freeExpired(agentKey, leasesKey, a, agentId, now, maxFree, tail)
  if a.next_exp == 0 or a.next_exp > now then return end
  local due = rcall('ZRANGEBYSCORE', leasesKey, '-inf', now, 'LIMIT', 0, maxFree)
  local freed = 0
  for i = 1, #due do
    local rk = agentKey .. ':res:' .. due[i]
    local h = rcall('HMGET', rk, 'st', 'sid', 'tok', 'cost', 'op', 'req')
    if h[1] == 'open' then
      if h[2] == a.sid then a.s_res = a.s_res - tonumber(h[3]) end
      a.c_res = a.c_res - tonumber(h[4])
      rcall('HSET', rk, 'st', 'expired')
      rcall('PEXPIRE', rk, 3600000)
      emit(now, tail, { 'type', 'release', 'agent_id', agentId, 'session_id', h[2],
        'role', a.role, 'operation', h[5], 'reservation_id', agentId .. '.' .. due[i],
        'request_id', h[6], 'input_tokens', 0, 'output_tokens', 0, 'cost', 0,
        'result', 'lease_expired', 'actor', 'system' })
      freed = freed + 1
    end
  end
  if #due > 0 then rcall('ZREM', leasesKey, unpack(due)) end
  if freed > 0 then
    rcall('HINCRBY', string.match(agentKey, '^(.-)agent:') .. 'stats', 'leases_freed', freed)
  end
  local first = rcall('ZRANGE', leasesKey, 0, 0, 'WITHSCORES')
  a.next_exp = tonumber(first[2]) or 0
  a.dirty = true
end
