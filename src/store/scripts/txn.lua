-- txn.lua: an optimistic transaction within one hash slot.
-- Checks run first; if any fails, nothing is written. Rust code reads, decides, then commits
-- here with the values it read as expectations, and retries on a conflict.
--
-- KEYS: every key the transaction touches (one hash slot).
-- ARGV: groups of four: op, key index (1-based), a, b.
--   checks: 'eqh' key field expected | 'nxh' key field - | 'eqk' key - expected | 'nxk' key - -
--           'ins' key member - (member of the set) | 'nins' key member - (not a member)
--   writes: 'hset' key field value | 'hdel' key field - | 'set' key value ttl_ms ('0' keeps none)
--           'del' key - - | 'sadd' key member - | 'srem' key member - | 'incr' key - -
--           'pexpire' key ttl_ms - | 'zadd' key member score | 'zrem' key member -
--           'zrembelow' key score - (members scored below score)
-- Returns 0 when applied, else the 1-based number of the first failed check.
local n = #ARGV
for i = 1, n, 4 do
  local op, k, a, b = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  local failed = false
  if op == 'eqh' then
    failed = redis.call('HGET', k, a) ~= b
  elseif op == 'nxh' then
    failed = redis.call('HEXISTS', k, a) == 1
  elseif op == 'eqk' then
    failed = redis.call('GET', k) ~= b
  elseif op == 'nxk' then
    failed = redis.call('EXISTS', k) == 1
  elseif op == 'ins' then
    failed = redis.call('SISMEMBER', k, a) == 0
  elseif op == 'nins' then
    failed = redis.call('SISMEMBER', k, a) == 1
  end
  if failed then
    return (i + 3) / 4
  end
end
for i = 1, n, 4 do
  local op, k, a, b = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  if op == 'hset' then
    redis.call('HSET', k, a, b)
  elseif op == 'hdel' then
    redis.call('HDEL', k, a)
  elseif op == 'set' then
    if b ~= '0' then
      redis.call('SET', k, a, 'PX', b)
    else
      redis.call('SET', k, a)
    end
  elseif op == 'del' then
    redis.call('DEL', k)
  elseif op == 'sadd' then
    redis.call('SADD', k, a)
  elseif op == 'srem' then
    redis.call('SREM', k, a)
  elseif op == 'incr' then
    redis.call('INCR', k)
  elseif op == 'pexpire' then
    redis.call('PEXPIRE', k, a)
  elseif op == 'zadd' then
    redis.call('ZADD', k, b, a)
  elseif op == 'zrem' then
    redis.call('ZREM', k, a)
  elseif op == 'zrembelow' then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. a)
  end
end
return 0
