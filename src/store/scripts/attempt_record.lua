-- attempt_record.lua: records one wrong try of a person at an object.
-- KEYS[1]: the object's wrong-try counter. KEYS[2]: the person's (same hash tag).
-- ARGV[1]: wrong tries a person may make. ARGV[2]: wrong tries the object takes from everyone.
-- ARGV[3]: the cooldown in ms.
-- Both counters live for the cooldown from their first wrong try. The person's starts again
-- from the try that uses up their allowance, so that they wait the whole cooldown; the
-- object's is renewed by every try past its allowance, so that it stays strict while the
-- guessing goes on (an honest person's own record still expires on its own schedule).
-- Returns {person count, object count, person pttl}.
local cooldown = tonumber(ARGV[3])
local person = redis.call('INCR', KEYS[2])
if person == 1 or person == tonumber(ARGV[1]) or redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIRE', KEYS[2], cooldown)
end
local object = redis.call('INCR', KEYS[1])
if object == 1 or object >= tonumber(ARGV[2]) or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], cooldown)
end
return {person, object, redis.call('PTTL', KEYS[2])}
