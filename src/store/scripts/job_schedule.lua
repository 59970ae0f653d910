-- job_schedule.lua: create or replace a job (its key is its idempotency key).
-- KEYS[1] jobs hash (key -> job json), KEYS[2] due zset (key -> due ms)
-- ARGV[1] job key, ARGV[2] job json, ARGV[3] due ms, ARGV[4] 'nx' to keep an existing job
-- Returns 1 when stored, 0 when ARGV[4] is 'nx' and the job exists.
-- A job that is running keeps its lease; claims skip it until job_complete, which sees the
-- new json and leaves the new due time in place.
if ARGV[4] == 'nx' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
