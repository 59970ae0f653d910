-- command_limit.lua: counts one command against a chat's limit and its sender's, in one
-- fixed window each (the window starts with the counter's first command).
-- KEYS[1]: the chat's counter. KEYS[2]: the sender's counter (same hash tag as KEYS[1]).
-- ARGV[1]: the chat's limit, 0 when this command is not counted against the chat.
-- ARGV[2]: the sender's limit, 0 when the sender is not counted.
-- ARGV[3]: the window in ms.
-- Returns {scope, over, pttl}: scope 0 allowed, 1 over the chat's limit, 2 over the sender's;
-- over is how far past the limit this command is (1: the first refused); pttl the ms until
-- the counter's window ends. A command refused by the chat creates no sender counter, so a
-- flood of new senders in a chat over its limit costs one key, not one per sender.
local window = tonumber(ARGV[3])

local function count(key, limit)
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('PEXPIRE', key, window)
  end
  if n <= limit then
    return nil
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    -- A counter without a lifetime would refuse for ever: give it one.
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return {n - limit, ttl}
end

local chat_limit = tonumber(ARGV[1])
if chat_limit > 0 then
  local over = count(KEYS[1], chat_limit)
  if over then
    return {1, over[1], over[2]}
  end
end
local sender_limit = tonumber(ARGV[2])
if sender_limit > 0 then
  local over = count(KEYS[2], sender_limit)
  if over then
    return {2, over[1], over[2]}
  end
end
return {0, 0, 0}
