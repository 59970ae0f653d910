-- job_schedule.lua: create or replace a job (its key is its idempotency key).
-- KEYS[1] jobs hash (key -> job json), KEYS[2] due zset (key -> due ms)
-- ARGV[1] job key, ARGV[2] job json, ARGV[3] due ms
-- A job that is running keeps its lease; claims skip it until job_complete, which sees the
-- new json and leaves the new due time in place.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
