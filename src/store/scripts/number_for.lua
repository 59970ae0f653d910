-- number_for.lua: the branch's next short number (#n), allocated once per origin (the chat
-- message or API request that asked for it), so that a retry after any failure finds the
-- number the first attempt took instead of taking another.
-- KEYS[1] the branch's sequence, KEYS[2] the origin's effect marker (same hash tag).
-- ARGV[1] the marker's lifetime in ms. Returns the number.
local taken = redis.call('GET', KEYS[2])
if taken then
  return tonumber(taken)
end
local n = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], n, 'PX', ARGV[1])
return n
