--[[
  restoreAgent: put back one agent of a shard being recovered, as the durable
  store has it: its state, its current session's counters and the spend of
  its day and month local to its time zone at the snapshot's instant, with
  the budget alerts already fired in that session, day and month (their
  marks: a threshold alerted before the loss does not alert again in the same
  period). Atomic and idempotent: writes only while the shard is not yet
  ready and the agent does not exist (a process restoring the same shard at
  the same time, or a caller that already used the restored agent, wins).
  Holds in flight are not restored (s_res, c_res and next_exp start at 0).
  Emits no event: the store already has the agent's events.

  KEYS[1] agent hash     tg:{s<n>}:agent:<id>
  KEYS[2] agent index    tg:{s<n>}:agents
  KEYS[3] ready marker   tg:{s<n>}:ready
  (derived, same hash tag: <agent>:day:<yyyymmdd>, <agent>:month:<yyyymm>)

  ARGV[1]  offsetMs      integer ms added to TIME (tests only; for EXPIREAT)
  ARGV[2]  agentId       string
  ARGV[3]  role          string
  ARGV[4]  status        string (active | suspended)
  ARGV[5]  sessionId     string, the current session (<agentId>.<nonce>)
  ARGV[6]  sessionStart  integer ms
  ARGV[7]  sessionLimit  integer tokens
  ARGV[8]  dailyLimit    integer micro-dollars
  ARGV[9]  keyDigest     string, sha-256 hex of the agent's API key
  ARGV[10] createdMs     integer ms
  ARGV[11] metadata      string, JSON text
  ARGV[12] sessionUsed   integer tokens recorded in the current session
  ARGV[13] sessionCost   integer micro-dollars recorded in the current session
  ARGV[14] blocked       integer denials in the current session
  ARGV[15] atMs          integer ms, the snapshot's instant: ARGV[16], [18], [23] and [24] are
                         of the agent's local day and month then (periodAt in its zone)
  ARGV[16] dayCost       integer micro-dollars spent that day
  ARGV[17] sessionOvr    integer tokens settled above their holds in the current session
  ARGV[18] dayOvr        integer micro-dollars settled above their holds that day
  ARGV[19] rpm           integer requests per minute (absent or 0: no limit)
  ARGV[20] tpm           integer tokens per minute (absent or 0: no limit)
  ARGV[21] monthlyLimit  integer micro-dollars a month (absent or 0: no limit)
  ARGV[22] zoneText      string, the time zone's offsets (src/engine/periods.ts zoneTextAt;
                         absent or '': UTC), stored as field `z`
  ARGV[23] monthCost     integer micro-dollars spent in that month (absent: 0)
  ARGV[24] monthOvr      integer micro-dollars of it settled above their holds (absent: 0)
  ARGV[25] pools         string, its pool and the pools above it, leaf first, joined by '|'
                         (includes/pools.lua; absent or '': in none). An agent in a pool is
                         restored on its hierarchy's shard (KEYS on that shard); the pools'
                         counts of agents come back with the hierarchy (lua/restorePool-2.lua)
  ARGV[26] sessionAlerts string, the budget alert thresholds (percent) already fired in the
                         current session, joined by ',' (absent or '': none), restored as its
                         alert marks (includes/alerts.lua): fields `a:<pct>` = the session id
  ARGV[27] dayAlerts     string, the same of the day of ARGV[15]: fields `a<pct>` of its day key
  ARGV[28] monthAlerts   string, the same of that month: fields `a<pct>` of its month key

  Returns { code }
  Codes: OK (restored), CONFLICT (the agent exists; nothing written),
         SHARD_READY (the shard is ready already; nothing written)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"

local agentKey, index, marker = KEYS[1], KEYS[2], KEYS[3]
if rcall('EXISTS', marker) == 1 then return { C.SHARD_READY } end
if rcall('EXISTS', agentKey) == 1 then return { C.CONFLICT } end

-- Alert marks (includes/alerts.lua) as field/value pairs: `prefix<pct>` = `value` for each
-- threshold of `text` ('50,80').
local function marks(text, prefix, value)
  local t = {}
  for pct in string.gmatch(text or '', '%d+') do
    t[#t + 1] = prefix .. pct
    t[#t + 1] = value
  end
  return t
end

local now = nowMs(ARGV[1])
saveAgent(agentKey, newAgent(ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), ARGV[9],
  tonumber(ARGV[17]) or 0, now + KEEP_MS, tonumber(ARGV[19]) or 0, tonumber(ARGV[20]) or 0,
  tonumber(ARGV[21]) or 0, string.match(ARGV[22] or '', '^[^|]*'), ARGV[25] or ''),
  'created', ARGV[10], 'meta', ARGV[11], 'z', ARGV[22] or '',
  unpack(marks(ARGV[26], 'a:', ARGV[5])))
rcall('ZADD', agentKey .. ':leases', '+inf', LEASE_SENTINEL)
rcall('SADD', index, ARGV[2])

-- The spend of the day and month of ARGV[15] in the agent's zone, as chargeDay keeps
-- them, with their alert marks; a key already there is newer than the store.
local p = periodAt(tonumber(ARGV[15]), ARGV[22])
local off = tonumber(ARGV[1])
local dk = agentKey .. ':day:' .. p.day
local cost, ovr = tonumber(ARGV[16]), tonumber(ARGV[18]) or 0
local dm = marks(ARGV[27], 'a', 1)
if (cost > 0 or #dm > 0) and rcall('EXISTS', dk) == 0 then
  rcall('HSET', dk, 'cost', cost, 'ovr', ovr, unpack(dm))
  rcall('EXPIREAT', dk, math.floor((p.nextDayMs - off) / 1000) + 86400)
end
local mCost, mOvr = tonumber(ARGV[23]) or 0, tonumber(ARGV[24]) or 0
local mk = agentKey .. ':month:' .. p.month
local mm = marks(ARGV[28], 'a', 1)
if (mCost > 0 or #mm > 0) and rcall('EXISTS', mk) == 0 then
  rcall('HSET', mk, 'cost', mCost, 'ovr', mOvr, unpack(mm))
  rcall('EXPIREAT', mk, math.floor((p.nextMonthMs - off) / 1000) + 86400)
end
return { C.OK }
