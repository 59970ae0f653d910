-- outbox_hold.lua: the lease holder of a chat records its progress and keeps the chat: the
-- messages delivered so far leave the queue, and the lease is extended. Called after every
-- send and during long sends, so a slow platform never lets the lease lapse under a turn.
-- KEYS[1] messages hash, KEYS[2] the chat's queue, KEYS[3] leases zset, KEYS[4] owners hash
-- ARGV[1] chat member, ARGV[2] the turn's token, ARGV[3] new lease expiry ms,
-- ARGV[4..] delivered ids
-- Returns 1, or 0 when the token no longer holds the chat (nothing written): the lease
-- lapsed and was claimed again, so the caller must send nothing more for it.
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then
  return 0
end
for i = 4, #ARGV do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
