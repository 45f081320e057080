"""Lua scripts of the feedback consumer and the recall tracker: one user's keys per call.

Every key a script names carries the user's hash tag, so a call stays in one Redis Cluster slot;
the global recall index (a sorted set) is written by the caller, idempotently (``ZADD GT``).

A recall record (hash ``portrait:trc:{uid}``, field = trigger id) is
``kind|channel|sent_ms|delivered_ms|deadline_ms|state`` with state ``p`` (pending) or ``r``
(recalled); ``delivered_ms`` is 0 until the delivered feedback arrives. Times are epoch ms.
"""

from __future__ import annotations

from typing import Final

_SPLIT: Final = """
local function split(s)
  local out = {}
  for part in string.gmatch(s .. '|', '([^|]*)|') do out[#out + 1] = part end
  return out
end
"""

# KEYS: sent hash, seen hash, sensitivity hash, recall record hash, experiment hash.
# ARGV: 1 trigger id, 2 status, 3 at ms, 4 channel from the message ('' none), 5 offer from the
# message ('' none), 6 seen ttl ms, 7 sensitivity ttl ms, 8 recall window ms, 9 recall ttl ms,
# 10 the kind that recalls ('win_back').
# Returns {'new' | 'dup', kind, channel, deadline ms of a pending recall or '0', the sent
# trigger's experiment ('' none), the user's arm in it ('' none)}; a new status of a trigger in
# an experiment is counted in the user's experiment hash ("<experiment>|<status>"). The counts move
# only for 'new' (the first time this trigger id has this status); the recall registration is
# idempotent and its deadline is returned every time so that the caller's index write is redone
# after a crash between this script and it.
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
local deadline = '0'
if rec and kind == ARGV[10] and ARGV[2] == 'delivered' then
  local at = tonumber(ARGV[3])
  local cur = redis.call('HGET', KEYS[4], ARGV[1])
  local r
  if cur then r = split(cur) else r = {kind, channel, tostring(sent), '0', '0', 'p'} end
  if r[6] == 'p' then
    if r[4] == '0' then
      r[4] = tostring(at)
      r[5] = tostring(at + tonumber(ARGV[8]))
      redis.call('HSET', KEYS[4], ARGV[1], table.concat(r, '|'))
      redis.call('PEXPIRE', KEYS[4], ARGV[9])
    end
    deadline = r[5]
  end
end
if first == 1 then return {'new', kind, channel, deadline, experiment, arm} end
return {'dup', kind, channel, deadline, experiment, arm}
"""
)

# A win-back was sent: watch the user from the send time until the delivered feedback moves
# the window. KEYS: recall record hash. ARGV: trigger id, kind, channel, sent ms, window ms,
# ttl ms. Returns the deadline of the pending recall, or '0' (recalled already).
REGISTER: Final = (
    _SPLIT
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local r = split(cur)
  if r[6] == 'p' then return r[5] end
  return '0'
end
local deadline = tostring(tonumber(ARGV[4]) + tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], ARGV[1],
  table.concat({ARGV[2], ARGV[3], ARGV[4], '0', deadline, 'p'}, '|'))
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
  local r = split(all[i + 1])
  if r[6] == 'p' then
    local start = tonumber(r[4])
    if start == 0 then start = tonumber(r[3]) end
    local deadline = tonumber(r[5])
    if ts >= start and ts <= deadline then
      r[6] = 'r'
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
