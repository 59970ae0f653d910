-- delete_if_equal.lua: delete a key only if it still holds the given value: a lock only if
-- this caller holds it, a lookup entry only if it still names the same branch.
-- KEYS[1] the key, ARGV[1] the value it must hold. Returns 1 if deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
