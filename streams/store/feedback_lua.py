"""Lua scripts of the feedback consumer and the recall tracker: one user's keys per call.

Every key a script names carries the user's hash tag, so a call stays in one Redis Cluster slot;
the global recall index (a sorted set) is written by the caller, idempotently (``ZADD GT``).

A recall record (hash ``portrait:trc:{uid}``, field = trigger id) is
``kind|channel|sent_ms|delivered_ms|deadline_ms|state|recalled_ms|clicked|campaign_id`` with state
``p`` (pending) or ``r`` (recalled); ``delivered_ms`` is 0 until the delivered feedback arrives,
``recalled_ms`` the time of the event that recalled the user, ``clicked`` 1 once a click came.
Times are epoch ms. Records written before the last three fields read them as 0, 0 and ''
(triggers/recall_report.py ``RecallMessage``).
"""

from __future__ import annotations

from typing import Final

_SPLIT: Final = """
local function split(s)
  local out = {}
  for part in string.gmatch(s .. '|', '([^|]*)|') do out[#out + 1] = part end
  return out
end
local function record(s)
  local r = split(s)
  for i = #r + 1, 9 do
    if i == 9 then r[i] = '' else r[i] = '0' end
  end
  return r
end
"""

# KEYS: sent hash, seen hash, sensitivity hash, recall record hash, experiment hash.
# ARGV: 1 trigger id, 2 status, 3 at ms, 4 channel from the message ('' none), 5 offer from the
# message ('' none), 6 seen ttl ms, 7 sensitivity ttl ms, 8 recall window ms, 9 recall ttl ms,
# 10 the kinds whose messages recall, comma-separated and comma-enclosed (',win_back,').
# Returns {'new' | 'dup', kind, channel, deadline ms of a pending recall or '0', the sent
# trigger's experiment ('' none), the user's arm in it ('' none), the send time of the trigger's
# recall record ('0': it is no recall message)}; a delivered or clicked status of a recall
# message is noted in its record (made here when the registration has not come yet); a new
# status of a trigger in an experiment is counted in the user's experiment hash
# ("<experiment>|<status>"). The counts move only for 'new' (the first time this trigger id has
# this status); the recall registration is idempotent, and its deadline and send time are
# returned every time so that the caller's index and ledger writes are redone after a crash
# between this script and them.
FEEDBACK: Final = (
    _SPLIT
    + """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
local kind, channel, offer = 'unknown', ARGV[4], ARGV[5]
local sent = 0
local p5 = nil
if rec then
  local p = split(rec)
  channel, kind, sent = p[1], p[2], tonumber(p[3]) or 0
  if p[4] and p[4] ~= '' then offer = p[4] end
  p5 = p[5]
end
if channel == '' then channel = 'unknown' end
local first = redis.call('HSETNX', KEYS[2], ARGV[1] .. '|' .. ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local experiment, arm = '', ''
if rec and p5 and p5 ~= '' then
  experiment = p5
  local record = redis.call('HGET', KEYS[5], experiment)
  if record then arm = string.match(record, '^([^|]*)') end
  if first == 1 then redis.call('HINCRBY', KEYS[5], experiment .. '|' .. ARGV[2], 1) end
end
if first == 1 and rec then
  redis.call('HINCRBY', KEYS[3], channel .. ':' .. ARGV[2], 1)
  redis.call('HINCRBY', KEYS[3], 'kind:' .. kind .. ':' .. ARGV[2], 1)
  if offer ~= '' then redis.call('HINCRBY', KEYS[3], 'offer:' .. offer .. ':' .. ARGV[2], 1) end
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
local deadline, recall_sent = '0', '0'
local cur = false
if rec then cur = redis.call('HGET', KEYS[4], ARGV[1]) end
if rec and (cur or string.find(ARGV[10], ',' .. kind .. ',', 1, true)) then
  local r
  if cur then
    r = record(cur)
  else
    r = {kind, channel, tostring(sent), '0', tostring(sent + tonumber(ARGV[8])), 'p', '0', '0', ''}
  end
  local changed = not cur
  if ARGV[2] == 'delivered' and r[6] == 'p' and r[4] == '0' then
    r[4] = ARGV[3]
    r[5] = tostring(tonumber(ARGV[3]) + tonumber(ARGV[8]))
    changed = true
  elseif ARGV[2] == 'clicked' and r[8] ~= '1' then
    r[8] = '1'
    changed = true
  end
  if changed then
    redis.call('HSET', KEYS[4], ARGV[1], table.concat(r, '|'))
    redis.call('PEXPIRE', KEYS[4], ARGV[9])
  end
  if r[6] == 'p' then deadline = r[5] end
  recall_sent = r[3]
end
local outcome = 'dup'
if first == 1 then outcome = 'new' end
return {outcome, kind, channel, deadline, experiment, arm, recall_sent}
"""
)

# A recall message was sent: watch the user from the send time until the delivered feedback
# moves the window (feedback counted before this registration, as a delivery receipt overtaking
# the sent message, is read from the seen hash). KEYS: recall record hash, feedback seen hash.
# ARGV: trigger id, kind, channel, sent ms, window ms, ttl ms, campaign id ('' none). Returns the
# deadline of the pending recall, or '0' (recalled already).
REGISTER: Final = (
    _SPLIT
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local r = record(cur)
  if r[9] == '' and ARGV[7] ~= '' then
    r[9] = ARGV[7]
    redis.call('HSET', KEYS[1], ARGV[1], table.concat(r, '|'))
  end
  if r[6] == 'p' then return r[5] end
  return '0'
end
local delivered = redis.call('HGET', KEYS[2], ARGV[1] .. '|delivered') or '0'
local start = tonumber(delivered)
if start == 0 then start = tonumber(ARGV[4]) end
local deadline = tostring(start + tonumber(ARGV[5]))
local clicked = '0'
if redis.call('HEXISTS', KEYS[2], ARGV[1] .. '|clicked') == 1 then clicked = '1' end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(
  {ARGV[2], ARGV[3], ARGV[4], delivered, deadline, 'p', '0', clicked, ARGV[7]}, '|'))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return deadline
"""
)

# The user was active at ARGV[1] (event time, ms): every pending recall whose window
# [delivered (else sent), deadline] holds it turns recalled, once. KEYS: recall record hash,
# sensitivity hash. ARGV: ts, sensitivity ttl ms. Returns {pending left, kind1, channel1, ...}.
RETURNED: Final = (
    _SPLIT
    + """
local ts = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local out = {0}
for i = 1, #all, 2 do
  local r = record(all[i + 1])
  if r[6] == 'p' then
    local start = tonumber(r[4])
    if start == 0 then start = tonumber(r[3]) end
    local deadline = tonumber(r[5])
    if ts >= start and ts <= deadline then
      r[6] = 'r'
      r[7] = ARGV[1]
      redis.call('HSET', KEYS[1], all[i], table.concat(r, '|'))
      redis.call('HINCRBY', KEYS[2], r[2] .. ':recalled', 1)
      redis.call('HINCRBY', KEYS[2], 'kind:' .. r[1] .. ':recalled', 1)
      redis.call('PEXPIRE', KEYS[2], ARGV[2])
      out[#out + 1] = r[1]
      out[#out + 1] = r[2]
    elseif ts < deadline then
      out[1] = out[1] + 1
    end
  end
end
return out
"""
)
