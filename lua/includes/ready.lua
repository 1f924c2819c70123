--[[
  Shard readiness (docs/recovery.md). `tg:{s<n>}:ready` is set once the shard
  was restored from the durable store (or found to have nothing to restore).
  It is read only where a script finds no agent, never on a path that decides
  for an existing agent: a missing marker there means Redis may have lost the
  shard's data, so the script answers SHARD_NOT_READY, writing nothing,
  and the caller restores the shard and calls again.
  The key is derived from any key of the shard (the same hash tag, so the same
  Cluster slot): everything up to the first '}:' plus 'ready'.
]]
local function shardReady(anyKey)
  return rcall('EXISTS', string.match(anyKey, '^(.-}:)') .. 'ready') == 1
end
