--[[
  Transactional outbox. A script collects its events with emit() and appends
  them with flushEvents(outbox) before it returns: ONE stream entry per call
  (XADD costs per entry, so a call that decides for many agents pays once).
  The entry's fields are `e`, <event> pairs in the order the events happened;
  each <event> is `name US value US name US value …` (US = \31, the ASCII unit
  separator, which no value holds: ids follow strict patterns, numbers are
  digits, metadata is JSON, whose strings escape control characters).
  event_id is a UUIDv7: its 48-bit time is Redis time, its random tail comes
  from the caller (ARGV), its last 4 hex digits number the events of the call.
  Needs: `now` fixed for the whole call (one TIME per call).
]]
local events, eventCount, eventPrefix, eventAt = {}, 0, nil, nil

-- `body`: the event's own fields, already joined by \31 (hot paths build it
-- with one concatenation, no table).
local function emitText(now, tail, body)
  if not eventPrefix then
    eventPrefix = 'event_id\31' .. string.format('%08x-%04x', math.floor(now / 65536), now % 65536)
      .. string.sub(tail, 1, -5)
    eventAt = '\31at\31' .. now .. '\31'
  end
  events[2 * eventCount + 1] = 'e'
  events[2 * eventCount + 2] = eventPrefix .. string.format('%04x', eventCount) .. eventAt .. body
  eventCount = eventCount + 1
end

-- `fields`: name, value, name, value, …
local function emit(now, tail, fields)
  emitText(now, tail, table.concat(fields, '\31'))
end

local function flushEvents(outbox)
  if eventCount > 0 then
    rcall('XADD', outbox, '*', unpack(events))
    events, eventCount = {}, 0
  end
end
