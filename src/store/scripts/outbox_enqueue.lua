-- outbox_enqueue.lua: queue a message for a chat, once per intent.
-- KEYS[1] messages hash (id -> json), KEYS[2] intent key (string, with TTL),
-- KEYS[3] the chat's queue (list of ids), KEYS[4] ready zset (chat -> eligible ms),
-- KEYS[5] leases zset
-- ARGV[1] id, ARGV[2] json, ARGV[3] intent TTL ms, ARGV[4] chat member, ARGV[5] now ms
-- Returns 1 when queued, 0 when the intent was queued before (nothing written).
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[1])
-- A chat being served is not made ready: its settle does that, so that no second replica
-- sends for it meanwhile.
if not redis.call('ZSCORE', KEYS[5], ARGV[4]) then
  redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[4])
end
return 1
