-- outbox_prune_dead.lua: keep dead letters bounded: drop those older than the age limit,
-- then the oldest past the cap, and let both keys expire with the newest one left.
-- KEYS[1] dead hash (id -> json), KEYS[2] dead_at zset (id -> ms dead-lettered)
-- ARGV[1] now ms, ARGV[2] age limit ms, ARGV[3] cap
-- Returns how many dead letters were dropped.
local now, ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dropped = 0
local function drop(id)
  redis.call('ZREM', KEYS[2], id)
  dropped = dropped + redis.call('HDEL', KEYS[1], id)
end

-- Dead letters of versions that kept no index are indexed as of now (and index entries whose
-- letter is gone are removed), so that the limits hold for them too.
if redis.call('HLEN', KEYS[1]) ~= redis.call('ZCARD', KEYS[2]) then
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not redis.call('ZSCORE', KEYS[2], id) then
      redis.call('ZADD', KEYS[2], now, id)
    end
  end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('HEXISTS', KEYS[1], id) == 0 then
      redis.call('ZREM', KEYS[2], id)
    end
  end
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do
  drop(id)
end
local over = redis.call('ZCARD', KEYS[2]) - cap
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    drop(id)
  end
end

local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if newest[2] then
  local expires = tonumber(newest[2]) + ttl
  redis.call('PEXPIREAT', KEYS[1], expires)
  redis.call('PEXPIREAT', KEYS[2], expires)
end
return dropped
