--[[
  Transactional outbox. A script collects its events with emit() and appends
  them with flushEvents(outbox) before it returns: ONE stream entry per call
  (XADD costs per entry, so a call that decides for many agents pays once;
  a call with more than 1,000 events, such as one that frees many expired
  holds, appends one entry per 1,000).
  The entry's fields are `e`, <event> pairs in the order the events happened;
  each <event> is `name US value US name US value …` (authorize's decision
  event: positional, `decision US <event_id> US <at> US …`, see
  src/engine/outbox-format.ts DECISION_FIELDS) (US = \31, the ASCII unit
  separator, which no value holds: ids follow strict patterns, numbers are
  digits, metadata is JSON, whose strings escape control characters).
  event_id is a UUIDv7: its 48-bit time is Redis time, its random tail comes
  from the caller (ARGV), its last 4 hex digits number the events of the call.
  Needs: `now` fixed for the whole call (one TIME per call).
]]
local events, eventCount, eventPrefix, eventAt, idPrefix, atValue = {}, 0, nil, nil, nil, nil

-- n (0..65535) as 4 lower-case hex digits (one format: 2.2k Redis instructions, where
-- four digits by string.char took 3.6k; this runs once per event).
local function hex4(n)
  return string.format('%04x', n)
end

-- The next event's id and time for a positional event (src/engine/outbox-format.ts
-- DECISION_FIELDS): the id's first part, its last 4 hex digits, and
-- `US <at> US`, three texts to concatenate.
local function eventIdParts(now, tail)
  if not idPrefix then
    idPrefix = string.format('%08x-%04x', math.floor(now / 65536), now % 65536)
      .. string.sub(tail, 1, -5)
    atValue = string.format('\31%d\31', now)
  end
  return idPrefix, hex4(eventCount), atValue
end

-- The next event's head for a named event: its `event_id` and `at` fields and
-- the separator after them, as three texts to concatenate with its own fields.
local function eventHead(now, tail)
  local id, n, at = eventIdParts(now, tail)
  if not eventPrefix then eventPrefix, eventAt = 'event_id\31' .. id, '\31at' .. at end
  return eventPrefix, n, eventAt
end

-- Appends a whole event text (from eventHead's or eventIdParts' texts and the fields).
local function pushEvent(text)
  events[2 * eventCount + 1] = 'e'
  events[2 * eventCount + 2] = text
  eventCount = eventCount + 1
end

-- `body`: the event's own fields, already joined by \31.
local function emitText(now, tail, body)
  local p, n, at = eventHead(now, tail)
  pushEvent(p .. n .. at .. body)
end

-- `fields`: name, value, name, value, …
local function emit(now, tail, fields)
  emitText(now, tail, table.concat(fields, '\31'))
end

-- Appends the call's events: one entry, or one per EVENTS_PER_ENTRY events
-- when a call emitted more (Lua's unpack has a stack limit).
local EVENTS_PER_ENTRY = 1000
local function flushEvents(outbox)
  if eventCount > 0 then
    local n = 2 * eventCount
    for i = 1, n, 2 * EVENTS_PER_ENTRY do
      rcall('XADD', outbox, '*', unpack(events, i, math.min(i + 2 * EVENTS_PER_ENTRY - 1, n)))
    end
    events, eventCount = {}, 0
  end
end
