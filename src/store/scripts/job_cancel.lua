-- job_cancel.lua: remove a job. A running one finishes, and job_complete then finds it gone.
-- KEYS[1] jobs hash, KEYS[2] due zset
-- ARGV[1] job key
-- Returns 1 if the job existed.
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
