--[[
  settle: one or more settles of one shard, in order, in one atomic call. Each
  records what an authorized operation really used and frees its hold, exactly
  as if the settles were separate calls (each sees the writes of the ones
  before it). Usage that happened is never refused: it may push a budget past
  its limit (the part above the hold is the overrun, recorded and reported).
  The price is the hold's (fixed when it was made); the tokens count for the
  session current now (open holds move into a new session) and the cost for
  today; the hold is freed where it was made; the agent's tokens per minute are
  corrected by the tokens used minus those held (includes/rate.lua). A hold made
  under pools is freed, charged and corrected the same way under each of them
  (includes/pools.lua), whatever pool the agent is in now. Without a reservation id, a
  settle takes the agent's oldest open hold for the operation (so
  check-then-record code never leaks a hold), remembered under the caller's
  usage id.
  Every settle is checked before its first write, and a settle that fails its
  checks writes nothing and leaves the others as they are. Safe to run twice
  (a lost reply resends the whole call with the same arguments): each settle
  that was recorded answers the recorded one (ALREADY_CLOSED); a different one
  is a conflict.

  KEYS[1] outbox stream   tg:{s<n>}:outbox
  (derived from its hash tag `tg:{s<n>}:`, so the same Cluster slot, for each
   settle: agent hash tg:{s<n>}:agent:<id> (includes/agent.lua and
   includes/records.lua), its leases zset <agent>:leases, day hash
   <agent>:day:<yyyymmdd>, the hold's pools' hierarchy tg:{s<n>}:pool:<root>, the
   directory tg:{s<n>}:dir, the closes to carry tg:{s<n>}:carry (includes/pools.lua); ids are checked against strict patterns before they
   reach Redis, so none holds `{`, `}` or `:`)

  ARGV[1]  offsetMs   integer ms added to TIME (tests only; 0 in production)
  ARGV[2]  eventTail  string, the random tail of the UUIDv7 event ids ('-7xxx-yxxx-xxxxxxxxxxxx';
                      its last 4 hex digits become each event's number in the call: 0000, 0001, …)
  ARGV[3]  maxFree    integer, most expired holds freed in this call (all settles)
  ARGV[4]  alertMin   integer percent, the lowest budget alert threshold ('' = no alerts)
  ARGV[5]  alertPcts  string, the thresholds in percent, increasing, joined by ',' ('50,80,100';
                      parsed only when a budget reaches ARGV[4]: includes/alerts.lua)
  then 13 per settle, from j = 6, step 13:
  ARGV[j]    agentId       string
  ARGV[j+1]  nonce         string (16 hex) of the reservation <agentId>.<nonce>
                           ('' = the oldest open hold for ARGV[j+2])
  ARGV[j+2]  operation     string (with ARGV[j+1] ''; else '')
  ARGV[j+3]  inputTokens   integer tokens >= 0
  ARGV[j+4]  outputTokens  integer tokens >= 0
  ARGV[j+5]  result        string ('success' | 'failure')
  ARGV[j+6]  keyDigest     string hex sha-256 of the caller's agent key ('' = not an agent key)
  ARGV[j+7]  actor         string ('admin' | 'agent' | 'library')
  ARGV[j+8]  usageId       string, the caller's id of this settle (with ARGV[j+1] ''; else '')
  ARGV[j+9]  costMicros    integer micro-dollars >= 0, the usage's cost as trusted code priced
                           it ('' = not given: the tokens at the hold's rates, rounded up); a
                           settle recorded before matches a repeat that gives one only if it
                           charged exactly that
  ARGV[j+10] estimated     string ('1' = the usage is an estimate, '' = not): the settle
                           event's `estimated` ('1' or '0'); not part of a repeat's match
  ARGV[j+11] pricedAs      string, the model whose price trusted code used ('' = not given):
                           the settle event's `priced_as`; not part of a repeat's match
  ARGV[j+12] model         string, the model the caller settles for ('' = not checked): it
                           must be the hold's model, else MODEL_MISMATCH

  Outbox: one entry per call (events.lua): for each settle in turn, a
  `release` event (lease_expired) per expired hold it freed, then its `settle`
  event (OK only); each with `pools` last when the hold was made under pools;
  then a `budget_alert` per threshold of ARGV[5] the settle made a budget cross
  for the first time in its period: the agent's, then each pool's of the hold,
  leaf first (includes/alerts.lua).

  Returns one flat array, { s1…, s2…, …, nowMs }: each settle's values in
  turn, numbers as integers:
    code             (AGENT_NOT_FOUND, UNAUTHENTICATED, RESERVATION_NOT_FOUND,
                      INVALID_FIELD, SHARD_NOT_READY, MOVING: nothing written)
    ELSEWHERE, shard (no agent here: it lives on that shard; nothing written)
    code, holdModel  (MODEL_MISMATCH: ARGV[j+12] is not the hold's model, the hold's
                      model answered; nothing settled. By operation, expired holds freed
                      before the hold was found stay freed, as on NO_HOLD)
    code, state      (NO_HOLD: by operation, no open hold; or the usage id
                      names a usage: nothing settled)
    code, state, nonce, costMicros, overrunTokens, overrunMicros, root
                     (OK: settled now; ALREADY_CLOSED: the same settle was
                      recorded, its values, nothing written; root: '', or the
                      root of the hold's pools when they are on another shard
                      (the hold moved here with its agent) and their close is
                      to be carried there: src/engine/redis/ops/closeLeftHold.ts)
    code, nonce, recordedState, recordedIn, recordedOut, recordedResult, recordedCostMicros
                     (IDEMPOTENCY_CONFLICT: another settle, or a release, was
                      recorded (by operation: under this usage id); its
                      values, '' when there is no record; nothing written)
  where state is the agent's packed state after the settle (field `s`, see
  includes/agent.lua; its copy of the day's spend is today's), nonce that of
  the reservation settled (<agentId>.<nonce>).
  Codes (includes/codes.lua): OK, AGENT_NOT_FOUND, UNAUTHENTICATED,
  RESERVATION_NOT_FOUND, ALREADY_CLOSED, IDEMPOTENCY_CONFLICT, NO_HOLD,
  MODEL_MISMATCH, ELSEWHERE, MOVING, INVALID_FIELD (a token count or cost that is not a plain
  integer, an `estimated` other than '' or '1', a model text holding the
  separator: the caller checks them, so never in practice), SHARD_NOT_READY (no agent and
  no ready marker: recover the shard, call again).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"
--- @include "includes/money"
--- @include "includes/period"
--- @include "includes/agent"
--- @include "includes/rate"
--- @include "includes/events"
--- @include "includes/pools"
--- @include "includes/records"
--- @include "includes/alerts"
--- @include "includes/ready"

local outbox = KEYS[1]
POOLS.key = outbox
local offsetMs = ARGV[1]
local now = nowMs(offsetMs)
local tail = ARGV[2]
freeBudget = tonumber(ARGV[3])
ALERT.min, ALERT.text = tonumber(ARGV[4]), ARGV[5]
POOLS.amin = ALERT.min
local shardPrefix = string.match(outbox, '^(.-}:)') .. 'agent:'
local tomb = tombScore(now)
local tombText = tostring(tomb)
-- One table for the agent state of every settle (filled by loadAgent).
local agentTable = {}

-- A number as text, formatted once per call (a batch's settles repeat the same
-- few values; number-to-text is the dearest step of a settle after the calls).
local texts = {}
local function textOf(n)
  local t = texts[n]
  if not t then
    t = tostring(n)
    texts[n] = t
  end
  return t
end

-- A token count's number, if its text is an integer as Lua formats it (no sign,
-- no leading zero, at most 14 digits: tostring would give the same text back).
local function tokens(t)
  if #t > 14 or not (t == '0' or string.find(t, '^[1-9]%d*$')) then return nil end
  return tonumber(t)
end

-- The reply: one flat array, each settle's values in turn (see the header).
local out, nOut = {}, 0
local function short(code)
  nOut = nOut + 1
  out[nOut] = code
end

-- The packed state to answer with when nothing is settled: what freeing
-- expired holds changed is saved, else nothing is written.
local function stateOf(agentKey, a)
  if not a.dirty then return stateReply(agentKey, a, now) end
  dayCostOf(agentKey, a, now)
  return saveAgent(agentKey, a)
end

local function noHold(agentKey, a)
  local k = nOut
  out[k + 1], out[k + 2] = C.NO_HOLD, stateOf(agentKey, a)
  nOut = k + 2
end

-- The same settle recorded before (`r`: its hold's record; nil if gone), with the root
-- of its pools while their close is still to be carried to their shard (P.carried).
local function closed(agentKey, a, agentId, nonce, r)
  local k = nOut
  out[k + 1], out[k + 2], out[k + 3] = C.ALREADY_CLOSED, stateOf(agentKey, a), nonce
  if r then
    out[k + 4], out[k + 5], out[k + 6] = r.charged or 0, r.ovrT or 0, r.ovrC or 0
    out[k + 7] = r.pools ~= '' and pools().carried(agentId .. '.' .. nonce, r.pools) or ''
  else
    out[k + 4], out[k + 5], out[k + 6], out[k + 7] = 0, 0, 0, ''
  end
  nOut = k + 7
end

-- The caller's model is not the hold's: its model answered; what freeing expired holds
-- changed (by operation, before the hold was found) is saved, the settle writes nothing.
local function mismatch(agentKey, a, holdModel)
  if a.dirty then stateOf(agentKey, a) end
  local k = nOut
  out[k + 1], out[k + 2] = C.MODEL_MISMATCH, holdModel
  nOut = k + 2
end

-- Another settle, or a release, recorded (`r`: its hold's record; nil if gone).
local function conflict(nonce, r)
  local k = nOut
  out[k + 1], out[k + 2] = C.IDEMPOTENCY_CONFLICT, nonce
  if r then
    out[k + 3], out[k + 4], out[k + 5], out[k + 6], out[k + 7] =
      r.st, r.inTok or '', r.outTok or '', r.result or '', r.charged or 0
  else
    out[k + 3], out[k + 4], out[k + 5], out[k + 6], out[k + 7] = '', '', '', '', 0
  end
  nOut = k + 7
end

-- A record's values (readRecord); an open hold's read in one table constructor
-- and without its lease end, which a settle does not use (this runs once per settle).
local function recordOf(v)
  if not v or string.byte(v, 1) ~= 3 then return readRecord(v) end
  local sid, tok, cost, rin, rout, op, model, _, req = string.match(v, OPEN)
  if not sid then return readRecord(v) end -- a hold made under pools
  return { st = 'open', hold = v, sid = sid, tok = tonumber(tok), cost = tonumber(cost),
    rin = tonumber(rin), rout = tonumber(rout), op = op, model = model, req = req, pools = '' }
end

-- The operation of an open hold's text (its 6th value, includes/records.lua).
local function holdOp(v)
  return string.match(v, '^\3\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31[^\31]*\31([^\31]*)\31')
end

local function settleOne(j)
  local agentId, nonce, operation, result = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 5]
  local digest, usageId = ARGV[j + 6], ARGV[j + 8]
  -- The token counts' texts go into records and events as they came (integers, as
  -- Lua would format them); their numbers into the sums.
  local inText, outText = ARGV[j + 3], ARGV[j + 4]
  local inTok, outTok = tokens(inText), tokens(outText)
  if not inTok or not outTok then return short(C.INVALID_FIELD) end
  -- The cost trusted code priced (nil: priced at the hold's rates below).
  local priced = ARGV[j + 9]
  if priced ~= '' then
    priced = tokens(priced)
    if not priced then return short(C.INVALID_FIELD) end
  else
    priced = nil
  end
  -- Trusted code's labels of the usage (the event's `estimated`, `priced_as`) and the
  -- model to check against the hold's ('' = not checked).
  local estimated, pricedAs, model = ARGV[j + 10], ARGV[j + 11], ARGV[j + 12]
  if (estimated ~= '' and estimated ~= '1') or string.find(pricedAs, '\31', 1, true)
    or string.find(model, '\31', 1, true) then
    return short(C.INVALID_FIELD)
  end
  local agentKey = shardPrefix .. agentId
  local byOperation = nonce == ''
  local holdField = not byOperation and 'h:' .. nonce or nil

  local a, v = loadAgent(agentKey, agentTable, holdField or 'u:' .. usageId)
  if not a then
    local code, shard = pools().missing(outbox, agentId)
    short(code)
    if shard then short(shard) end
    return
  end
  if digest ~= '' and a.digest ~= digest then return short(C.UNAUTHENTICATED) end

  local leasesKey = agentKey .. ':leases'
  local fingerprint
  if byOperation then
    fingerprint = operation .. '|' .. inText .. '|' .. outText .. '|' .. result
    if v then
      local kind, fp, charged, prior = string.match(v, '^(%a)\31([^\31]*)\31([^\31]*)\31(.*)$')
      if kind == 'u' then return noHold(agentKey, a) end
      local r = readRecord(rcall('HGET', agentKey, 'h:' .. prior))
      if r and model ~= '' and r.model ~= model then return mismatch(agentKey, a, r.model) end
      if fp ~= fingerprint or (priced and tonumber(charged) ~= priced) then
        return conflict(prior, r)
      end
      return closed(agentKey, a, agentId, prior, r)
    end
    tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
    local ids = rcall('ZRANGEBYSCORE', leasesKey, 0, '+inf', 'LIMIT', 0, 64)
    local values = #ids > 0 and rcall('HMGET', agentKey, unpack(ids)) or {}
    for i = 1, #ids do
      local x = values[i]
      if x and string.byte(x, 1) == 3 and holdOp(x) == operation then
        nonce, v, holdField = string.sub(ids[i], 3), x, ids[i]
        break
      end
    end
    if nonce == '' then return noHold(agentKey, a) end
  end

  -- What was recorded answers first, writing nothing; only a settle that records frees
  -- expired holds too.
  local r = recordOf(v)
  if not r or r.st == 'denied' then return short(C.RESERVATION_NOT_FOUND) end
  if model ~= '' and r.model ~= model then return mismatch(agentKey, a, r.model) end
  if r.st == 'settled' then
    if r.inTok == inTok and r.outTok == outTok and r.result == result
      and (not priced or r.charged == priced) then
      return closed(agentKey, a, agentId, nonce, r)
    end
    return conflict(nonce, r)
  end
  if r.st == 'released' then return conflict(nonce, r) end
  if not byOperation then
    tidyAgent(agentKey, leasesKey, a, agentId, now, tail)
    -- This hold's lease may have passed: freed just now, it is settled as expired.
    if a.dirty and r.st == 'open' then r = readRecord(rcall('HGET', agentKey, holdField)) end
  end

  -- Open, or expired (a late settle still records its usage).
  local open = r.st == 'open'
  if open then
    a.s_res = a.s_res - r.tok
    a.c_res = a.c_res - r.cost
  end
  local cost = priced or costMicros(inTok, r.rin, outTok, r.rout)
  local ovrT = math.max(0, inTok + outTok - r.tok)
  local ovrC = math.max(0, cost - r.cost)
  a.s_used = a.s_used + inTok + outTok
  a.s_cost = a.s_cost + cost
  a.s_ovr = a.s_ovr + ovrT
  -- Tokens per minute: the hold took its estimate; the usage corrects it (includes/rate.lua).
  agentRateCorrect(a, inTok + outTok - r.tok, now)
  local cUsed = chargeDay(agentKey, a, now, offsetMs, cost, ovrC)
  -- The pools the hold was made under: freed, charged and corrected the same way.
  local poolsField, carried = '', ''
  if r.pools ~= '' then
    if not pools().close(r.pools, r.cost, open, cost, inTok + outTok - r.tok, now) then
      -- Its pools are on another shard (it moved here with its agent): closed there next.
      carried = pools().carry(agentId .. '.' .. nonce, r.pools, inTok + outTok, cost)
    end
    poolsField = '\31pools\31' .. r.pools
  end
  local costText, ovrTText, ovrCText = textOf(cost), textOf(ovrT), textOf(ovrC)
  local record = closedText('settled', r, inText, outText, costText, result, ovrTText, ovrCText)
  local state
  if byOperation then
    local usageField = 'u:' .. usageId
    state = saveAgent(agentKey, a, holdField, record, usageField,
      's\31' .. fingerprint .. '\31' .. costText .. '\31' .. nonce)
    rcall('ZADD', leasesKey, tombText, holdField, tombText, usageField)
  else
    state = saveAgent(agentKey, a, holdField, record)
    rcall('ZADD', leasesKey, tombText, holdField)
  end
  -- The settle event (the fields of emit's, joined here: no table per settle).
  emitText(now, tail, 'type\31settle\31agent_id\31' .. agentId .. '\31session_id\31' .. a.sid
    .. '\31role\31' .. a.role .. '\31operation\31' .. r.op .. '\31input_tokens\31' .. inText
    .. '\31output_tokens\31' .. outText .. '\31cost\31' .. costText .. '\31overrun_tokens\31'
    .. ovrTText .. '\31overrun_cost\31' .. ovrCText .. '\31model\31' .. r.model .. '\31reservation_id\31'
    .. agentId .. '.' .. nonce .. '\31request_id\31' .. r.req .. '\31result\31' .. result
    .. '\31session_utilization\31' .. pct(a.s_used, a.s_limit) .. '\31daily_utilization\31'
    .. pct(cUsed, a.d_limit) .. '\31actor\31' .. ARGV[j + 7] .. '\31estimated\31'
    .. (estimated == '1' and '1' or '0') .. '\31priced_as\31' .. pricedAs .. poolsField)
  -- A budget that crossed a threshold: its mark and budget_alert (includes/alerts.lua).
  agentAlerts(agentKey, agentId, a, inTok + outTok, cost, now, tail)
  if POOLS.hot then poolAlerts(r.pools, agentId, cost, now, tail) end
  local k = nOut
  out[k + 1], out[k + 2], out[k + 3], out[k + 4], out[k + 5], out[k + 6], out[k + 7] =
    C.OK, state, nonce, cost, ovrT, ovrC, carried
  nOut = k + 7
end

for j = 6, #ARGV, 13 do
  settleOne(j)
end
out[nOut + 1] = now
if POOLS.lib then POOLS.lib.flush() end
flushEvents(outbox)
return out
