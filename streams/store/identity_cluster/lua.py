"""The Lua scripts of identity resolution on Redis Cluster: each touches one slot, a name's lock
and journal key (both tagged by the name) or one profile's keys. The writes of a journal or a
pointer are made only by the holder of the name's lock (its token: locks.py, journal.py)."""

from __future__ import annotations

from typing import Final

# KEYS[1]: a lock, KEYS[2]: the journal key of the same name. ARGV[1]: the token; ARGV[2..]: ids
# of journals finished. The lock is released if it is still the token's, and the name's pointer
# with it if it points to a finished journal (a pointer to an unfinished one stays: it is how the
# journal is found). Returns 1, or 0 when the lock was not the token's any more.
RELEASE: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local id = redis.call('HGET', KEYS[2], 'id')
if id and redis.call('HEXISTS', KEYS[2], 'owner') == 1 then
  for i = 2, #ARGV do
    if ARGV[i] == id then
      redis.call('DEL', KEYS[2])
      break
    end
  end
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1]: a lock. ARGV: token, lifetime in ms. Returns 1 if the token holds it (renewed), else 0.
RENEW: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1]: a lock, KEYS[2]: the journal key of the same name. ARGV[1]: the token, then field,
# value pairs: the hash written in place of what was there, if the token holds the lock.
WRITE: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""

# KEYS[1]: the owner's lock, KEYS[2]: its journal. ARGV: token, journal id, stages done, lock
# lifetime. Marks the stages done (and renews the lock) if the token holds it and the journal is
# the one named; returns 1, else 0.
ADVANCE: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'done', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: a lock and the journal key of its name; ARGV: token, journal id. Deletes that finished
# journal, or that pointer to it, if the token holds the lock: 1, else 0 (the lock was lost
# meanwhile: its new holder finds the journal done and deletes it).
CLEAR: Final = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[2], 'id') == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: the absorbed profile's state, hand-overs, moved marker, pending triggers, sent history.
# ARGV: the absorbed profile, the survivor. At once: the state becomes a hand-over beside the
# others, the profile is marked moved (its writes are refused from now on). Returns the
# hand-overs (flat field, value list), the pending slots and the sent history (flat), to move.
HAND_OVER: Final = """
local blob = redis.call('GET', KEYS[1])
if blob then
  redis.call('HSET', KEYS[2], ARGV[1], blob)
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[3], ARGV[2])
return {redis.call('HGETALL', KEYS[2]), redis.call('HKEYS', KEYS[4]),
  redis.call('HGETALL', KEYS[5])}
"""

# KEYS[1]: a list; ARGV: its new items (none: the list goes).
REPLACE_LIST: Final = """
redis.call('DEL', KEYS[1])
for i = 1, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
return #ARGV
"""

# KEYS[1]: a string key; ARGV[1]: a value. Deleted if it holds that value: 1, else 0.
DELETE_IF: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
