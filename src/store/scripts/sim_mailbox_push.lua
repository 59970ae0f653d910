-- sim_mailbox_push.lua: deliver a message to a sim chat's mailbox, keeping mailboxes bounded:
-- messages per mailbox, a TTL after the last message, and mailboxes per bot.
-- KEYS[1] the chat's mailbox (list of JSON), KEYS[2] the bot's index (zset chat id -> ms)
-- ARGV[1] message JSON, ARGV[2] chat id, ARGV[3] now ms, ARGV[4] messages kept per mailbox,
-- ARGV[5] mailbox TTL ms, ARGV[6] mailboxes kept per bot
-- Returns the chat ids of the mailboxes evicted past the per-bot cap (least recently
-- written first); the caller deletes them (their keys are built in Rust, in keys.rs). A
-- mailbox the caller fails to delete still expires with its TTL.
local ttl = tonumber(ARGV[5])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
redis.call('PEXPIRE', KEYS[1], ttl)
local now = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[2])
-- Index entries of mailboxes that expired on their own.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local evicted = {}
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if over > 0 then
  for _, entry in ipairs(redis.call('ZPOPMIN', KEYS[2], over)) do
    evicted[#evicted + 1] = entry
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
-- ZPOPMIN answers member, score, member, score...: keep the members.
local ids = {}
for i = 1, #evicted, 2 do
  ids[#ids + 1] = evicted[i]
end
return ids
