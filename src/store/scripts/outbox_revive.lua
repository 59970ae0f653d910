-- outbox_revive.lua: put a dead-lettered message back at the end of its chat's queue.
-- KEYS[1] dead hash, KEYS[2] messages hash, KEYS[3] the chat's queue, KEYS[4] ready zset,
-- KEYS[5] leases zset, KEYS[6] dead_at zset
-- ARGV[1] id, ARGV[2] json with attempts reset, ARGV[3] chat member, ARGV[4] now ms
-- Returns 1, or 0 if no such dead message.
redis.call('ZREM', KEYS[6], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[1])
if not redis.call('ZSCORE', KEYS[5], ARGV[3]) then
  redis.call('ZADD', KEYS[4], 'NX', ARGV[4], ARGV[3])
end
return 1
