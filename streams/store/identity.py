"""The identity graph in Redis (docs/identity.md, "The graph in Redis").

Each identifier that belongs to a person names the person's canonical identifier
(``Keys.identifier``); the person's identifiers, with when each was linked, are a hash under the
canonical profile (``Keys.person``), and its merge history a list beside it (``Keys.merges``).
A lone profile has none of these: the graph only holds what was linked.

:meth:`IdentityStore.apply` carries out the steps :func:`profiles.identity.plan` decided, in one
Lua call, and only if the graph is still what the plan read (every identifier's person and
every person's size): two workers linking the same people at once cannot both win, and the
loser reads and plans again. A merge hands the absorbed profile's stored state over to the
survivor (``Keys.absorbing``), marks the absorbed profile moved (its owner's next write is
refused and its events are forwarded), cancels the absorbed profile's pending triggers and
moves its sent history (caps count the person's messages), and writes the audit message into
the survivor's partition outbox — all at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.identity import Identifier, Person, Step, audit
from streams.names import (
    ABSORBING,
    IDENTIFIER,
    MERGES,
    MOVED,
    PENDING,
    PERSON,
    PROFILE,
    SENT,
    Keys,
)
from streams.store.identity_cluster import LOCK_TTL_MS, ClusterIdentity
from streams.store.triggers import as_text
from triggers.config import KINDS

# ARGV[1]: JSON {cas: [[identifier, its canonical or ""], ...], sizes: [[profile, HLEN of its
# person], ...], steps: [[action, identifier, into, into profile, absorbed, absorbed profile,
# audit message], ...], now, keep}; ARGV[2..]: key prefixes (identifier, person, merges, moved,
# absorbing, profile, pending triggers, sent), the trigger due index, the outbox key, the trigger
# kinds as JSON. Returns {1, absorbed profiles} or {0, what changed since the plan read it}.
APPLY = """
local a = cjson.decode(ARGV[1])
local idn, person, merges, moved, absorbing = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local profile, pending, sent, tdue, outbox = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local kinds = cjson.decode(ARGV[12])
local function key(prefix, id) return prefix .. '{' .. id .. '}' end

for _, c in ipairs(a.cas) do
  if (redis.call('GET', key(idn, c[1])) or '') ~= c[2] then return {0, c[1]} end
end
for _, c in ipairs(a.sizes) do
  if redis.call('HLEN', key(person, c[1])) ~= c[2] then return {0, c[1]} end
end

local function person_of(canonical, prof)  -- a lone profile becomes a person of one
  if redis.call('EXISTS', key(person, prof)) == 0 then
    redis.call('SET', key(idn, canonical), canonical)
    redis.call('HSET', key(person, prof), canonical, a.now)
  end
end

local function move_hash(from, to, only_new)
  local pairs_ = redis.call('HGETALL', from)
  for i = 1, #pairs_, 2 do
    if only_new then redis.call('HSETNX', to, pairs_[i], pairs_[i + 1])
    else redis.call('HSET', to, pairs_[i], pairs_[i + 1]) end
  end
  redis.call('DEL', from)
end

local absorbed = {}
for _, s in ipairs(a.steps) do
  local action, ident, into, intop, gone, gonep, msg = s[1], s[2], s[3], s[4], s[5], s[6], s[7]
  person_of(into, intop)
  if action == 'link' then
    redis.call('SET', key(idn, ident), into)
    redis.call('HSET', key(person, intop), ident, a.now)
  else
    person_of(gone, gonep)
    local members = redis.call('HGETALL', key(person, gonep))
    for i = 1, #members, 2 do redis.call('SET', key(idn, members[i]), into) end
    move_hash(key(person, gonep), key(person, intop), false)
    local blob = redis.call('GET', key(profile, gonep))
    if blob then
      redis.call('HSET', key(absorbing, intop), gonep, blob)
      redis.call('DEL', key(profile, gonep))
    end
    move_hash(key(absorbing, gonep), key(absorbing, intop), false)
    redis.call('SET', key(moved, gonep), intop)
    local tq = key(pending, gonep)
    for _, slot in ipairs(redis.call('HKEYS', tq)) do
      redis.call('ZREM', tdue, slot .. '\\031' .. gonep)
    end
    for _, kind in ipairs(kinds) do redis.call('ZREM', tdue, kind .. '\\031' .. gonep) end
    redis.call('DEL', tq)
    move_hash(key(sent, gonep), key(sent, intop), true)
    for _, old in ipairs(redis.call('LRANGE', key(merges, gonep), 0, -1)) do
      redis.call('RPUSH', key(merges, intop), old)
    end
    redis.call('DEL', key(merges, gonep))
    redis.call('RPUSH', key(merges, intop), msg)
    redis.call('LTRIM', key(merges, intop), -a.keep, -1)
    absorbed[#absorbed + 1] = gonep
  end
  redis.call('XADD', outbox, '*', 'm', msg)
end
return {1, absorbed}
"""


# ARGV: the key prefixes (identifier, person, merges, moved, absorbing), the canonical profile.
# Deletes the person: every identifier's link, the identifier hash, the merge history, the
# hand-overs waiting, and the moved marker of every profile of the person. Returns keys deleted.
FORGET = """
local idn, person, merges, moved, absorbing, canonical = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6]
local function key(prefix, id) return prefix .. '{' .. id .. '}' end
local deleted = 0
for _, ident in ipairs(redis.call('HKEYS', key(person, canonical))) do
  deleted = deleted + redis.call('DEL', key(idn, ident))
  local kind, value = string.match(ident, '^([^:]*):(.*)$')
  if kind == 'anonymous_id' then
    deleted = deleted + redis.call('DEL', key(moved, 'anon:' .. value))
  elseif kind == 'user_id' then
    deleted = deleted + redis.call('DEL', key(moved, value))
  end
end
return deleted + redis.call('DEL', key(person, canonical), key(merges, canonical),
  key(absorbing, canonical))
"""


@dataclass(frozen=True, slots=True)
class Applied:
    """What :meth:`IdentityStore.apply` did: ``ok`` False when the graph changed since it was
    read (nothing was written: read and plan again), else the profiles absorbed."""

    ok: bool
    absorbed: list[str]
    conflict: str = ""


class IdentityStore:
    def __init__(
        self, redis: Redis, namespace: str, merges_kept: int = 200, lock_ttl_ms: int = LOCK_TTL_MS
    ) -> None:
        self.redis = redis
        self.keys = keys = Keys(namespace)
        self.merges_kept = merges_kept
        # On Redis Cluster APPLY and FORGET would span slots: the same changes are made in
        # single-slot steps under per-person locks, with a journal a crash leaves to finish
        # (streams/store/identity_cluster/); ``lock_ttl_ms`` is how long a crashed holder's
        # locks keep others waiting.
        self.split = (
            ClusterIdentity(redis, keys, merges_kept, lock_ttl_ms)
            if isinstance(redis, RedisCluster)
            else None
        )
        self._apply = redis.register_script(APPLY)
        self._forget = redis.register_script(FORGET)
        self._prefixes = (
            keys.user_prefix(IDENTIFIER), keys.user_prefix(PERSON), keys.user_prefix(MERGES),
            keys.user_prefix(MOVED), keys.user_prefix(ABSORBING), keys.user_prefix(PROFILE),
            keys.user_prefix(PENDING), keys.user_prefix(SENT), keys.due,
        )  # fmt: skip

    async def persons(self, idents: Sequence[Identifier]) -> dict[Identifier, Person]:
        """The person of each identifier the graph knows (unknown ones are left out), read in
        two round trips: every identifier's canonical, then every person's identifiers. On
        Redis Cluster the first is one MGET per slot, in parallel across the primaries
        (``mget_nonatomic``), since each identifier key is in its own slot; the second is a
        pipeline, which a cluster splits per node."""
        idents = list(dict.fromkeys(idents))
        if not idents:
            return {}
        names = [self.keys.identifier(i.text) for i in idents]
        found: Any
        if isinstance(self.redis, RedisCluster):  # one MGET may not span slots there
            found = await self.redis.mget_nonatomic(names)
        else:
            found = await self.redis.mget(names)
        canon = {i: Identifier.parse(as_text(c)) for i, c in zip(idents, found, strict=True) if c}
        people = sorted(set(canon.values()))
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in people:
                pipe.hgetall(self.keys.person(_profile(c)))
            members = await pipe.execute()
        by_canon = {c: _person(c, m) for c, m in zip(people, members, strict=True)}
        return {i: by_canon[c] for i, c in canon.items()}

    async def apply(
        self,
        steps: Sequence[Step],
        known: Mapping[Identifier, Person],
        read: Sequence[Identifier],
        at_ms: int,
        cause: str,
        outbox: str,
    ) -> Applied:
        """Carry out ``steps`` if every identifier of ``read`` still has the person ``known``
        gave it (and every such person its size); the audit messages go to ``outbox``. A
        refused step changes nothing and has no message (the caller counts it). On Redis
        Cluster the same, in steps under per-person locks (streams/store/identity_cluster/),
        which also finish first what a crash left of another apply on these persons."""
        if self.split is not None:
            return Applied(*await self.split.apply(steps, known, read, at_ms, cause, outbox))
        steps = [s for s in steps if s.action != "refused"]  # APPLY knows links and merges
        if not steps:
            return Applied(True, [])
        cas = [[i.text, known[i].canonical.text if i in known else ""] for i in read]
        people = {id(p): p for p in known.values()}.values()
        sizes = [[_profile(p.canonical), len(p.identifiers)] for p in people]
        rows = []
        for s in steps:
            gone = s.absorbed
            message = orjson.dumps(audit(s, at_ms, cause)).decode()
            rows.append(
                [
                    s.action, s.ident.text, s.into.text, _profile(s.into),
                    gone.text if gone else "", _profile(gone) if gone else "", message,
                ]
            )  # fmt: skip
        arg = {"cas": cas, "sizes": sizes, "steps": rows, "now": at_ms, "keep": self.merges_kept}
        ok, detail = await self._apply(
            [], [orjson.dumps(arg), *self._prefixes, outbox, orjson.dumps(KINDS)]
        )
        if not int(ok):
            return Applied(False, [], as_text(detail))
        return Applied(True, [as_text(p) for p in detail])

    async def absorbing(self, profile: str) -> dict[str, bytes]:
        """The stored states of the profiles merged into ``profile`` and not folded in yet."""
        raw = await self.redis.hgetall(self.keys.absorbing(profile))
        return {as_text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}

    async def moved_to(self, profile: str) -> str | None:
        """The profile ``profile`` was merged into (None: it was not)."""
        found = await self.redis.get(self.keys.moved(profile))
        return as_text(found) if found else None

    async def profiles_of(self, profile: str) -> list[str]:
        """Every profile of ``profile``'s person (merged ones included), ``profile`` first."""
        me = Identifier.of_profile(profile)
        person = (await self.persons([me])).get(me)
        found = [i.profile for i in person.identifiers if i.profile] if person else []
        return [profile, *(p for p in found if p != profile)]

    async def forget(self, profile: str) -> int:
        """Delete ``profile``'s person from the graph (an erasure: docs/privacy.md); the
        number of keys deleted. On Redis Cluster in steps, under the person's lock, safe to run
        again after a crash (streams/store/identity_cluster/)."""
        if self.split is not None:
            return await self.split.forget(profile)
        me = Identifier.of_profile(profile)
        person = (await self.persons([me])).get(me)
        if person is None:
            return 0
        canonical = _profile(person.canonical)
        return int(await self._forget([], [*self._prefixes[:5], canonical]))

    async def survivor(self, profile: str) -> str | None:
        """The profile that now holds the person of ``profile``, if ``profile`` was merged into
        another (a chain of merges is followed: the graph names the current canonical)."""
        if await self.moved_to(profile) is None:
            return None
        me = Identifier.of_profile(profile)
        person = (await self.persons([me])).get(me)
        found = person.canonical.profile if person is not None else None
        return found if found != profile else None

    async def show(self, ident: Identifier) -> dict[str, Any] | None:
        """``portrait identity show``: the person's canonical id, identifiers and merges."""
        person = (await self.persons([ident])).get(ident)
        if person is None:
            return None
        canonical = _profile(person.canonical)
        history = await self.redis.lrange(self.keys.merges(canonical), 0, -1)
        linked = await self.redis.hgetall(self.keys.person(canonical))
        at = {as_text(k): int(v) for k, v in linked.items()}
        return {
            "canonical_id": canonical,
            "identifiers": [
                {
                    "identifier": i.text,
                    "kind": i.kind,
                    "profile": i.profile,
                    "linked_at_ms": at[i.text],
                }
                for i in person.identifiers
            ],
            "merges": [orjson.loads(m) for m in history],
        }


def _profile(ident: Identifier) -> str:
    profile = ident.profile
    if profile is None:
        raise ValueError(f"{ident.text} keys no profile")
    return profile


def _person(canonical: Identifier, members: Mapping[Any, Any]) -> Person:
    """A person from its hash, identifiers in the order they were linked (at one moment, the
    canonical first)."""
    first = canonical.text
    rows = sorted((int(at), as_text(raw) != first, as_text(raw)) for raw, at in members.items())
    # as stored: the compare-and-set compares this size with the hash's
    return Person(canonical, [Identifier.parse(text) for _, _, text in rows])
