-- ident_index.lua: the account → branches lookup of private chats, a set of branch ids.
-- It used to be a string naming one branch (the last written won). A string still found here
-- reads as a set of that one id, and the first write turns it into a set, so no migration step
-- is needed.
-- KEYS[1] the ident:… key; ARGV[1] 'read', 'add' or 'remove'; ARGV[2] the branch id (writes).
-- Returns the branch ids (read) or 1/0 (whether a write changed the set).
local key = KEYS[1]
local kind = redis.call('TYPE', key).ok
if ARGV[1] == 'read' then
  if kind == 'string' then
    return { redis.call('GET', key) }
  end
  return redis.call('SMEMBERS', key)
end
if kind == 'string' then
  local old = redis.call('GET', key)
  redis.call('DEL', key)
  redis.call('SADD', key, old)
end
if ARGV[1] == 'add' then
  return redis.call('SADD', key, ARGV[2])
end
return redis.call('SREM', key, ARGV[2])
