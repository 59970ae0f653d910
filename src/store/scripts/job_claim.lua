-- job_claim.lua: hand due jobs to one replica under a lease.
-- KEYS[1] jobs hash, KEYS[2] due zset, KEYS[3] leases zset (key -> lease expiry ms),
-- KEYS[4] owners hash (key -> owner token)
-- ARGV[1] now ms, ARGV[2] lease ms, ARGV[3] owner token, ARGV[4] batch size
-- Returns a flat list: key1, json1, key2, json2, ...
-- Leases that expired (their replica died) first go back to due, to run now.
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, key in ipairs(expired) do
  redis.call('ZREM', KEYS[3], key)
  redis.call('HDEL', KEYS[4], key)
  if redis.call('HEXISTS', KEYS[1], key) == 1 then
    redis.call('ZADD', KEYS[2], 'NX', now, key)
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, key in ipairs(due) do
  -- A job rescheduled while it runs stays due until its run completes: never two runs at once.
  if not redis.call('ZSCORE', KEYS[3], key) then
    redis.call('ZREM', KEYS[2], key)
    local json = redis.call('HGET', KEYS[1], key)
    if json then
      redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), key)
      redis.call('HSET', KEYS[4], key, ARGV[3])
      out[#out + 1] = key
      out[#out + 1] = json
    end
  end
end
return out
