-- outbox_claim.lua: hand chats with sendable messages to one replica under a lease.
-- One replica sends for a chat at a time, which keeps each chat's order.
-- KEYS[1] ready zset, KEYS[2] leases zset (chat -> expiry ms), KEYS[3] owners hash
-- ARGV[1] now ms, ARGV[2] lease ms, ARGV[3] the turn's token (fresh per claim: the fence the
-- take, hold and settle scripts check), ARGV[4] batch
-- Returns the claimed chat members. Expired leases (a dead replica) go back to ready first.
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, chat in ipairs(expired) do
  redis.call('ZREM', KEYS[2], chat)
  redis.call('HDEL', KEYS[3], chat)
  redis.call('ZADD', KEYS[1], 'NX', now, chat)
end
local ready = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local chats = {}
for _, chat in ipairs(ready) do
  redis.call('ZREM', KEYS[1], chat)
  -- Never two replicas on one chat: a chat still leased is settled by its holder, which
  -- makes it ready again if messages remain.
  if not redis.call('ZSCORE', KEYS[2], chat) then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), chat)
    redis.call('HSET', KEYS[3], chat, ARGV[3])
    chats[#chats + 1] = chat
  end
end
return chats
