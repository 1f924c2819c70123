--[[
  endRecovery: the end of a shard's recovery. With ARGV[3] = '1' (every agent
  of the shard restored) sets the ready marker, so scripts that find no agent
  decide again; with '0' (the recovery failed: the store could not be read)
  leaves the marker unset. Either way frees the recovery lock if this attempt
  still holds it.

  KEYS[1] ready marker   tg:{s<n>}:ready
  KEYS[2] recovery lock  tg:{s<n>}:recovering

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] token     string, the lock token beginRecovery took
  ARGV[3] ready     '1' set the marker | '0' do not
  ARGV[4] note      string kept in the marker after its time, e.g. 'store 12'

  Returns { code, nowMs }
  Codes: OK (done)
  The marker's value is '<Redis time ms> <note>' (information only; never expires).
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"

local marker, lock, token = KEYS[1], KEYS[2], ARGV[2]
local now = nowMs(ARGV[1])
if ARGV[3] == '1' then rcall('SET', marker, now .. ' ' .. ARGV[4]) end
if rcall('GET', lock) == token then rcall('DEL', lock) end
return { C.OK, now }
