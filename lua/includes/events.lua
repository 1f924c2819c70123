--[[
  Transactional outbox: each event is appended to the shard's stream by the
  script that made the decision. event_id is a UUIDv7: its 48-bit time is Redis
  time, its random tail comes from the caller (ARGV), the last byte numbering
  the events of one call.
]]
local function emit(outbox, now, tail, n, fields)
  local id = string.format('%08x-%04x', math.floor(now / 65536), now % 65536)
    .. string.sub(tail, 1, -3) .. string.format('%02x', n)
  rcall('XADD', outbox, '*', 'event_id', id, 'at', now, unpack(fields))
end
