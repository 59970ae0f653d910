-- dedup_finish.lua: store the reply of a claimed message, or release the claim.
-- KEYS[1]: the dedup key.
-- ARGV[1]: the claim value this replica wrote ("P:<token>").
-- ARGV[2]: the value to store ("R:<reply json>"), or "" to release the claim.
-- ARGV[3]: lifetime in ms of the stored reply.
-- Returns 1 when this replica still held the claim, else 0 (another took over; nothing written).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
