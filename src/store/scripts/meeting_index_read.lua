-- meeting_index_read.lua: meetings through the branch's indexes, never the whole history.
-- KEYS[1]: mtg_index (the indexes' version)   KEYS[2]: agenda_ends   KEYS[3]: ended
-- KEYS[4]: meetings   (all {b:<branch>})
-- ARGV[1]: 'upcoming' (scheduled meetings ending after ARGV[2]) or 'current' (every scheduled
--   meeting, and the ended ones that started at or after ARGV[2]). ARGV[2]: ms.
-- Returns nil when the indexes are not built yet (the caller builds them and asks again),
-- else the meetings' JSON (a number in both sets appears once per set).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
local nos
if ARGV[1] == 'upcoming' then
  nos = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf')
else
  nos = redis.call('ZRANGE', KEYS[2], 0, -1)
  for _, no in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[2], '+inf')) do
    nos[#nos + 1] = no
  end
end
if #nos == 0 then
  return {}
end
return redis.call('HMGET', KEYS[4], unpack(nos))
