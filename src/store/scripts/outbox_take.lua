-- outbox_take.lua: take send tokens from a chat's and a bot's bucket at once.
-- KEYS[1] chat bucket hash (tokens, ts, resv), KEYS[2] bot bucket hash (tokens, ts),
-- KEYS[3] outbox owners hash (chat -> token of the turn holding its lease),
-- KEYS[4] outbox leases zset (chat -> lease expiry ms)
-- ARGV[1] now ms, ARGV[2] chat rate (tokens/ms), ARGV[3] chat capacity,
-- ARGV[4] bot rate (tokens/ms), ARGV[5] bot capacity, ARGV[6] tokens wanted,
-- ARGV[7] chat member, ARGV[8] the turn's token
-- Returns {granted, wait_ms}: all wanted, or 1 when fewer are there (one digest message),
-- or 0 and how long to wait; {-1, 0} when the token no longer holds the chat's lease, or its
-- lease has run out even if nobody claimed the chat yet (nothing taken: a turn that started
-- late, or stalled, must not send while another replica may claim the chat and send too).
--
-- When the bot's bucket is empty the chat reserves the bot's next free slot (the bucket goes
-- into debt, as in GCRA) and is told to come back exactly then; its reservation is honoured
-- without another bot token. Without reservations every waiting chat would poll each time a
-- token appears: a thundering herd of Redis calls when a thousand chats wait on one bot.
local now = tonumber(ARGV[1])
if redis.call('HGET', KEYS[3], ARGV[7]) ~= ARGV[8] then
  return {-1, 0}
end
local until_ms = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[7]) or '0')
if until_ms <= now then
  return {-1, 0}
end
local function level(key, rate, cap)
  local b = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(b[1]) or cap
  local ts = tonumber(b[2]) or now
  if now > ts then
    tokens = math.min(cap, tokens + (now - ts) * rate)
  end
  return tokens
end
local crate, ccap = tonumber(ARGV[2]), tonumber(ARGV[3])
local brate, bcap = tonumber(ARGV[4]), tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local ct = level(KEYS[1], crate, ccap)
local bt = level(KEYS[2], brate, bcap)
local resv = tonumber(redis.call('HGET', KEYS[1], 'resv') or '0')
-- At most two minutes of sends may be promised ahead.
local max_debt = brate * 120000

local grant, wait, bot_debit = 0, 0, 0
if resv > now then
  wait = resv - now
elseif ct < 1 then
  wait = math.ceil((1 - ct) / crate)
elseif resv > 0 then
  -- This chat's reserved slot has come: one message, its bot token already taken.
  grant = 1
  resv = 0
elseif ct >= want and bt >= want then
  grant, bot_debit = want, want
elseif bt >= 1 then
  grant, bot_debit = 1, 1
elseif -bt < max_debt then
  bt = bt - 1
  wait = math.max(1, math.ceil(-bt / brate))
  resv = now + wait
else
  wait = math.ceil((1 - bt) / brate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(ct - grant), 'ts', now, 'resv', resv)
redis.call('HSET', KEYS[2], 'tokens', tostring(bt - bot_debit), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(ccap / crate) + 180000)
redis.call('PEXPIRE', KEYS[2], math.ceil(bcap / brate) + 180000)
return {grant, wait}
