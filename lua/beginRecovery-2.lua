--[[
  beginRecovery: may this process restore the shard? The shard needs it when
  its ready marker is missing (Redis lost its data, or a new deployment). One
  process at a time restores a shard: it holds the shard's recovery lock (a
  token, with a lease so that a process that dies mid-recovery does not block
  the shard for long); the others wait for the marker.

  KEYS[1] ready marker   tg:{s<n>}:ready
  KEYS[2] recovery lock  tg:{s<n>}:recovering

  ARGV[1] offsetMs  integer ms added to TIME (tests only)
  ARGV[2] token     string, this attempt's lock token
  ARGV[3] lockMs    integer ms, the lock's lease

  Returns { code, nowMs }  (nowMs: Redis time, the day recovery restores)
  Codes: OK: the lock is ours (restore the shard, then endRecovery),
         SHARD_READY (the marker is set: nothing to do),
         RECOVERY_BUSY (another process holds the lock: wait for the marker)
]]
local rcall = redis.call
--- @include "includes/codes"
--- @include "includes/clock"

local marker, lock, token = KEYS[1], KEYS[2], ARGV[2]
local now = nowMs(ARGV[1])
if rcall('EXISTS', marker) == 1 then return { C.SHARD_READY, now } end
if rcall('SET', lock, token, 'NX', 'PX', ARGV[3]) then return { C.OK, now } end
if rcall('GET', lock) == token then
  rcall('PEXPIRE', lock, ARGV[3])
  return { C.OK, now }
end
return { C.RECOVERY_BUSY, now }
