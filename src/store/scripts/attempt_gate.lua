-- attempt_gate.lua: whether a person may try a code at an object now (reads only).
-- KEYS[1]: the object's wrong-try counter. KEYS[2]: the person's (same hash tag).
-- ARGV[1]: wrong tries a person may make. ARGV[2]: wrong tries the object takes from everyone.
-- Returns {state, pttl}: state 0 open; 1 the person used up their tries; 2 the object used up
-- its tries and this person has a wrong try of their own on record. pttl: ms until the
-- person's record expires (when they are heard again).
local person = tonumber(redis.call('GET', KEYS[2]) or '0')
if person >= tonumber(ARGV[1]) then
  return {1, redis.call('PTTL', KEYS[2])}
end
if person > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[2]) then
  return {2, redis.call('PTTL', KEYS[2])}
end
return {0, 0}
