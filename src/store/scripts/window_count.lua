-- window_count.lua: counts one event in a fixed window (the window starts with the first).
-- KEYS[1]: the counter. ARGV[1]: the window in ms.
-- Returns {n, pttl}: the count in this window including this one, and the ms until it ends.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- A counter without a lifetime would count for ever: give it one.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
