-- job_complete.lua: finish a claimed job: drop it, or reschedule it (recurrence, retry).
-- KEYS[1] jobs hash, KEYS[2] due zset, KEYS[3] leases zset, KEYS[4] owners hash,
-- KEYS[5] record list (skipped or failed jobs; unused when ARGV[6] is '')
-- ARGV[1] key, ARGV[2] owner token, ARGV[3] json as claimed, ARGV[4] next json ('' = drop),
-- ARGV[5] next due ms, ARGV[6] record json ('' = none), ARGV[7] record list cap
-- Returns 1 when applied; 0 when the lease was lost (another replica took the job over);
-- 2 when the job was replaced or cancelled while it ran (the new version stands).
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[5], ARGV[6])
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[7]) - 1)
end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[3] then
  return 2
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
end
return 1
