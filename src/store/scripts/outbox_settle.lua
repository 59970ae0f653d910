-- outbox_settle.lua: after a send attempt, drop what was delivered, update or dead-letter
-- the failing message, release the chat, and make it ready again if messages remain.
-- KEYS[1] messages hash, KEYS[2] the chat's queue, KEYS[3] ready zset, KEYS[4] leases zset,
-- KEYS[5] owners hash, KEYS[6] dead hash (id -> json), KEYS[7] dead_at zset (id -> ms)
-- ARGV[1] chat member, ARGV[2] the turn's token, ARGV[3] next eligible ms (also when a dead letter
-- failed), ARGV[4] id to update ('' none), ARGV[5] its new json,
-- ARGV[6] id to dead-letter ('' none), ARGV[7] its dead json, ARGV[8..] delivered ids
-- Returns 1, or 0 when this turn lost the chat's lease (nothing written).
-- The dead letters' cap and age are enforced by outbox_prune_dead.lua, run right after.
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then
  return 0
end
for i = 8, #ARGV do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('LREM', KEYS[2], 1, ARGV[6])
  redis.call('HDEL', KEYS[1], ARGV[6])
  redis.call('HSET', KEYS[6], ARGV[6], ARGV[7])
  redis.call('ZADD', KEYS[7], ARGV[3], ARGV[6])
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
if redis.call('LLEN', KEYS[2]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
return 1
