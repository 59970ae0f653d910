-- outbox_take.lua: take send tokens from a chat's and a bot's bucket at once.
-- KEYS[1] chat bucket hash, KEYS[2] bot bucket hash (fields: tokens, ts)
-- ARGV[1] now ms, ARGV[2] chat rate (tokens/ms), ARGV[3] chat capacity,
-- ARGV[4] bot rate (tokens/ms), ARGV[5] bot capacity, ARGV[6] tokens wanted
-- Returns {granted, wait_ms}: all wanted, or 1 when fewer are there (one digest message),
-- or 0 and how long until a token is there.
local now = tonumber(ARGV[1])
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
local ct = level(KEYS[1], crate, ccap)
local bt = level(KEYS[2], brate, bcap)
local want = tonumber(ARGV[6])
local grant = 0
if ct >= want and bt >= want then
  grant = want
elseif ct >= 1 and bt >= 1 then
  grant = 1
end
local wait = 0
if grant == 0 then
  wait = math.ceil(math.max((1 - ct) / crate, (1 - bt) / brate, 1))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(ct - grant), 'ts', now)
redis.call('HSET', KEYS[2], 'tokens', tostring(bt - grant), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(ccap / crate) + 60000)
redis.call('PEXPIRE', KEYS[2], math.ceil(bcap / brate) + 60000)
return {grant, wait}
