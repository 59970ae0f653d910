-- inbound.lua: the first step of a command in a bound chat, in one round trip under the
-- branch's tag: who is speaking (the branch record, the sender's roster entry), the sender
-- limit of a member below 支委, and the message's dedup claim. For `签到` (mode 'checkin') also
-- the whole check-in: the meeting (by `#n` or the one open window), the code, the record, the
-- chat's digest count, and the outcome, stored as the message's reply for a retry. Guests are
-- counted by command_limit.lua, on the chat's own counters (`{lim:<chat>}`), as in unbound
-- chats: one chat limit whether or not the chat is bound yet.
--
-- KEYS (all under {b:<branch>}):
--   1 branch   2 identities   3 members   4 the sender's counter   5 the message's dedup key
--   6 chats (the branch's member chats)
--   mode 'checkin' only: 7 nos   8 agenda   9 agenda_ends   10 mtg_index   11 ckrate:<chat>
--   12 ckdigest:<chat>   13 the chat's digest-job marker for the current bucket
-- Keys read by name in mode 'checkin' (they depend on the meeting found; built from ARGV[15],
-- the branch's key base, as `Keys::attendance` and `Keys::*_wrong_attempts` build them):
--   <base>mtg:<no>:att, <base>wa:mtg:<no>:n, <base>wa:mtg:<no>:p:<member id>
-- ARGV:
--   1 mode: 'context' (reads only), 'enter' (count and claim), 'checkin'
--   2 the sender's identity key (`platform:bot:user_id`)
--   3 the sender limit of a member below 支委 (0: not counted)   4 its window, ms
--   5 '1' when the message takes a claim if its sender is a member   6 the claim ('P:<token>')
--   7 the claim's lifetime, ms
--   8 the group chat (`platform:bot:chat_id`) whose branch came from the global index, which
--     the script checks against the branch's own keys; '' for a private chat
--   mode 'checkin': 9 now, ms   10 now as serde writes it (RFC 3339)   11 the `#n` typed, or ''
--   12 the code typed, or ''   13 the default check-in opening before the start, ms
--   14 the default closing after the start, ms   15 the branch's key base
--   16 wrong codes per person   17 wrong codes per object   18 their cooldown, ms
--   19 digest window, ms   20 digest threshold   21 digest list cap   22 digest list lifetime, ms
--   23 job marker lifetime, ms   24 dedup lifetime of the stored outcome, ms   25 the bucket
-- Returns an array:
--   {'unbound'}: the branch record is gone (the chat's index is stale).
--   {'stale'}: the chat of ARGV[8] is neither one of the branch's member chats nor its
--     committee chat: the caller's copy of the global index is out of date; nothing was
--     read or written.
--   {'fallback'[, 'index']}: mode 'checkin' found what only the full service path handles
--     ('index': the branch's meeting indexes are not built yet; otherwise a guest,
--     indexes not yet built, a timing it cannot read, an object of another kind); nothing
--     was written.
--   {state, branch json, member json or nil, a, b, c} with state
--     'guest' (not counted, nothing claimed: the caller counts the chat's guest limits),
--     'free' (nothing claimed: a hint, or mode 'context'), 'owned' (claimed),
--     'done' (a: the stored reply, 'R:<json>' or 'C:<outcome json>'), 'inflight',
--     'limited' (a: 2, the sender's limit; b: how far past it; c: ms left).
--   {'checkin', outcome json, '1' if this check-in must schedule the chat's digest job}.

local mode = ARGV[1]

local branch_raw = redis.call('GET', KEYS[1])
if not branch_raw then
  return {'unbound'}
end
-- The branch came from a copy of the chat's index: trusted only if the branch's own keys
-- say the chat is its own (cheap for a member chat; the committee chat needs the record).
local chat = ARGV[8]
if chat ~= '' and redis.call('SISMEMBER', KEYS[6], chat) == 0 then
  local committee = cjson.decode(branch_raw).committee_chat
  if type(committee) ~= 'table'
      or (committee.platform .. ':' .. committee.bot .. ':' .. committee.chat_id) ~= chat then
    return {'stale'}
  end
end
local member_raw = false
local member_id = redis.call('HGET', KEYS[2], ARGV[2])
if member_id then
  member_raw = redis.call('HGET', KEYS[3], member_id)
end
local member = member_raw and cjson.decode(member_raw) or nil

-- Mirrors `Member::effective_role` and `Services::command_limits`: moved-out people are
-- guests; 支委 and 书记 count against no limit.
local class = 'guest'
if member and member.status == 'active' and member.role ~= 'guest' then
  if member.role == 'committee' or member.role == 'secretary' then
    class = 'lead'
  else
    class = 'low'
  end
end

if mode == 'context' then
  return {'free', branch_raw, member_raw}
end

-- ---------------------------------------------------------------------------------------
-- helpers

local function count(key, limit, window)
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('PEXPIRE', key, window)
  end
  if n <= limit then
    return nil
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return {n - limit, ttl}
end

-- The sender limit of command_limit.lua, for members below 支委.
local function limit()
  local sender_limit = tonumber(ARGV[3])
  if class == 'low' and sender_limit > 0 then
    local over = count(KEYS[4], sender_limit, tonumber(ARGV[4]))
    if over then
      return {'limited', branch_raw, member_raw, '2', tostring(over[1]), tostring(over[2])}
    end
  end
  return nil
end

-- A message handled before: its stored reply; one being handled: in flight.
local function seen()
  local value = redis.call('GET', KEYS[5])
  if not value then
    return nil
  end
  local tag = string.sub(value, 1, 2)
  if tag == 'R:' or tag == 'C:' then
    return {'done', branch_raw, member_raw, value}
  end
  return {'inflight', branch_raw, member_raw}
end

local claims = ARGV[5] == '1' and class ~= 'guest'

if mode == 'enter' then
  if class == 'guest' then
    return {'guest', branch_raw, member_raw}
  end
  -- A retry answers with the stored reply before it is counted again.
  if claims then
    local before = seen()
    if before then
      return before
    end
  end
  local refused = limit()
  if refused then
    return refused
  end
  if not claims then
    return {'free', branch_raw, member_raw}
  end
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
  return {'owned', branch_raw, member_raw}
end

-- ---------------------------------------------------------------------------------------
-- mode 'checkin'

if class == 'guest' or not claims then
  return {'fallback'}
end
if redis.call('EXISTS', KEYS[10]) == 0 then
  return {'fallback', 'index'}
end

-- A humantime duration as serde writes it ('15m', '1h 30m', '2days'), in ms; nil if it
-- holds anything else.
local UNITS = {
  ns = 0.000001, us = 0.001, ms = 1, s = 1000, m = 60000, h = 3600000,
  d = 86400000, day = 86400000, days = 86400000,
}
local function duration_ms(text)
  if type(text) ~= 'string' then
    return nil
  end
  local total, rest = 0, text
  for n, unit in string.gmatch(text, '(%d+)(%a+)') do
    local scale = UNITS[unit]
    if not scale then
      return nil
    end
    total = total + tonumber(n) * scale
  end
  rest = string.gsub(rest, '%d+%a+', '')
  if string.find(rest, '%S') then
    return nil
  end
  return math.floor(total)
end

local branch = cjson.decode(branch_raw)
local opens_before, closes_after = tonumber(ARGV[13]), tonumber(ARGV[14])
if type(branch.timing) == 'table' then
  if branch.timing.checkin_opens_before then
    opens_before = duration_ms(branch.timing.checkin_opens_before)
  end
  if branch.timing.checkin_closes_after then
    closes_after = duration_ms(branch.timing.checkin_closes_after)
  end
  if not opens_before or not closes_after then
    return {'fallback'}
  end
end

local before = seen()
if before then
  return before
end

local now = tonumber(ARGV[9])
local base = ARGV[15]
local out = {lang = branch.language or 'zh', tz = branch.timezone, name = member.name}

local function window(facts)
  if facts.o then
    return facts.o, facts.c
  end
  return facts.s - opens_before, facts.s + closes_after
end

-- The meeting (reads only, so that a refusal by the limits below has changed nothing).
local no, facts
if ARGV[11] ~= '' then
  no = ARGV[11]
  out.no = tonumber(no)
  local kind = redis.call('HGET', KEYS[7], no)
  if not kind then
    out.r = 'not_found'
  elseif string.sub(kind, 1, 8) ~= 'meeting:' then
    return {'fallback'}
  else
    local raw = redis.call('HGET', KEYS[8], no)
    if not raw then
      out.r = 'meeting_closed'
    else
      facts = cjson.decode(raw)
      local opens, closes = window(facts)
      if now < opens then
        out.r, out.opens = 'not_open', opens
      elseif now > closes then
        out.r = 'closed'
      end
    end
  end
else
  -- Only meetings not yet over can be open: the index holds them by their end.
  local candidates = redis.call('ZRANGEBYSCORE', KEYS[9], '(' .. ARGV[9], '+inf', 'LIMIT', 0, 200)
  if #candidates >= 200 then
    return {'fallback'}
  end
  local open = {}
  for _, n in ipairs(candidates) do
    local raw = redis.call('HGET', KEYS[8], n)
    if raw then
      local f = cjson.decode(raw)
      local opens, closes = window(f)
      if now >= opens and now <= closes then
        open[#open + 1] = {no = n, facts = f}
      end
    end
  end
  table.sort(open, function(a, b)
    if a.facts.s ~= b.facts.s then
      return a.facts.s < b.facts.s
    end
    return tonumber(a.no) < tonumber(b.no)
  end)
  if #open == 0 then
    out.r = 'none_open'
  elseif #open > 1 then
    local nos = {}
    for i, o in ipairs(open) do
      nos[i] = tonumber(o.no)
    end
    out.r, out.nos = 'several', nos
  else
    no, facts = open[1].no, open[1].facts
    out.no = tonumber(no)
  end
end

local refused = limit()
if refused then
  return refused
end

-- The code: the gate is asked before the code is looked at, and every wrong code counts per
-- member and per meeting (attempt_gate.lua and attempt_record.lua, for these two keys).
if not out.r and type(facts.code) == 'string' then
  local object = base .. 'wa:mtg:' .. no .. ':n'
  local person = base .. 'wa:mtg:' .. no .. ':p:' .. member.id
  local per_person, per_object = tonumber(ARGV[16]), tonumber(ARGV[17])
  local tries = tonumber(redis.call('GET', person) or '0')
  if tries >= per_person
      or (tries > 0 and tonumber(redis.call('GET', object) or '0') >= per_object) then
    out.r, out.wait = 'too_many', math.max(redis.call('PTTL', person), 0)
  elseif ARGV[12] == '' then
    out.r = 'code_needed'
  elseif ARGV[12] ~= facts.code then
    local cooldown = tonumber(ARGV[18])
    local p = redis.call('INCR', person)
    if p == 1 or p == per_person or redis.call('PTTL', person) < 0 then
      redis.call('PEXPIRE', person, cooldown)
    end
    local o = redis.call('INCR', object)
    if o == 1 or o >= per_object or redis.call('PTTL', object) < 0 then
      redis.call('PEXPIRE', object, cooldown)
    end
    if p >= per_person or o >= per_object then
      out.r, out.wait = 'too_many', math.max(redis.call('PTTL', person), 0)
    else
      out.r = 'wrong_code'
    end
  end
end

-- RFC 3339 in UTC as serde writes a `DateTime<Utc>`, in ms since the epoch.
local function epoch_ms(text)
  local y, mo, d, h, mi, s, frac =
    string.match(text, '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)Z$')
  if not y then
    y, mo, d, h, mi, s, frac =
      string.match(text, '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)%+00:00$')
  end
  if not y then
    return nil
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo > 2) and (mo - 3) or (mo + 9)
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  local secs = ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60 + tonumber(s)
  return secs * 1000 + math.floor(tonumber('0' .. frac) * 1000)
end

local job = '0'
if not out.r then
  out.kind = facts.k
  local key = base .. 'mtg:' .. no .. ':att'
  local raw = redis.call('HGET', key, member.id)
  local record = raw and cjson.decode(raw) or {rsvp = false}
  if type(record.checked_in_at) == 'string' then
    local at = epoch_ms(record.checked_in_at)
    if not at then
      return redis.error_reply('inbound.lua: unreadable checked_in_at in ' .. key)
    end
    out.r, out.late = 'already', at > facts.s
  else
    record.checked_in_at = ARGV[10]
    redis.call('HSET', key, member.id, cjson.encode(record))
    out.r, out.late = 'recorded', now > facts.s
    -- A busy chat: past the threshold in the window, the name waits for the next digest.
    redis.call('SET', KEYS[11], 0, 'PX', ARGV[19], 'NX')
    if redis.call('INCR', KEYS[11]) > tonumber(ARGV[20]) then
      redis.call('RPUSH', KEYS[12], member.name)
      redis.call('LTRIM', KEYS[12], -tonumber(ARGV[21]), -1)
      redis.call('PEXPIRE', KEYS[12], ARGV[22])
      out.digest, out.bucket = true, tonumber(ARGV[25])
      if redis.call('SET', KEYS[13], 1, 'PX', ARGV[23], 'NX') then
        job = '1'
      end
    end
  end
end

local encoded = cjson.encode(out)
redis.call('SET', KEYS[5], 'C:' .. encoded, 'PX', ARGV[24])
return {'checkin', encoded, job}
