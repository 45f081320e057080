""":class:`ClusterIdentity`: the identity graph's apply (S9) and forget (S10) on Redis Cluster,
each a sequence of named single-slot steps (``apply_steps``, ``forget_steps``): lock the names
(locks.py), finish what a crash left under them (journal.py), read again and compare, plan
(plan.py), then run the new journal and let go. The design: the package docstring.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import NamedTuple

from redis.asyncio import Redis

from profiles.identity import Identifier, Person, Step
from streams.names import Keys
from streams.store.identity_cluster.journal import Journals
from streams.store.identity_cluster.locks import LOCK_TTL_MS, LockLost, Session
from streams.store.identity_cluster.plan import (
    Journal,
    Stage,
    _conflict,
    _Graph,
    _keyed,
    _lock_names,
    _plan,
    _profile,
    _step_profiles,
)
from streams.store.triggers import as_text


class Outcome(NamedTuple):
    """What an apply did (``IdentityStore.apply`` makes its ``Applied`` of it)."""

    ok: bool
    absorbed: list[str]
    conflict: str = ""


class ClusterIdentity(Journals):
    """The identity graph's writes on Redis Cluster (package docstring)."""

    def __init__(
        self, redis: Redis, keys: Keys, merges_kept: int = 200, lock_ttl_ms: int = LOCK_TTL_MS
    ) -> None:
        super().__init__(redis, keys, lock_ttl_ms)
        self.merges_kept = merges_kept
        self.wait_s = 2 * lock_ttl_ms / 1000  # the longest a lock is waited for before a conflict

    # --- apply ------------------------------------------------------------------------------

    async def apply(
        self,
        steps: Sequence[Step],
        known: Mapping[Identifier, Person],
        read: Sequence[Identifier],
        at_ms: int,
        cause: str,
        outbox: str,
    ) -> Outcome:
        """:meth:`apply_steps` to the end."""
        session, out = Session(), list[Outcome]()
        try:
            async for _ in self.apply_steps(session, out, steps, known, read, at_ms, cause, outbox):
                pass
        except LockLost as lost:
            await self._let_go(session)
            return Outcome(False, [], f"lock lost: {lost}")
        except BaseException:
            await self._let_go(session)  # the journal stays, for the next holder to finish
            raise
        return out[0]

    async def apply_steps(
        self,
        session: Session,
        out: list[Outcome],
        steps: Sequence[Step],
        known: Mapping[Identifier, Person],
        read: Sequence[Identifier],
        at_ms: int,
        cause: str,
        outbox: str,
    ) -> AsyncGenerator[str, None]:
        """The apply's writes in order, each named once made (a caller that stops after any of
        them is a crash there, the locks left to run out); the outcome is put in ``out``."""
        steps = [s for s in steps if s.action != "refused"]
        people = list({id(p): p for p in known.values()}.values())
        cas = [(i.text, known[i].canonical.text if i in known else "") for i in read]
        sizes = [(_profile(p.canonical), len(p.identifiers)) for p in people]
        names = _lock_names(steps, known, read, people)
        if not steps and not await self._journals_at(names):
            out.append(Outcome(True, []))  # nothing to change, nothing left unfinished
            return
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while True:
            async for name in self._take(session, names):
                yield name
            if session.busy:
                if await self._wait(session.busy, deadline):
                    continue
                out.append(Outcome(False, [], f"{session.busy}: locked"))
                return
            break
        graph = await self._read(cas, sizes, steps)
        conflict = _conflict(cas, sizes, graph)
        if conflict or not steps:
            await self._let_go(session)
            out.append(Outcome(not conflict, [], conflict))
            return
        journal, absorbed = _plan(
            self.keys, self.merges_kept, session.token, names, steps, graph, at_ms, cause, outbox
        )
        async for name in self._run(session, journal, fresh=True):
            yield name
        await self._let_go(session)
        yield "released"
        out.append(Outcome(True, absorbed))

    async def _read(
        self,
        cas: Sequence[tuple[str, str]],
        sizes: Sequence[tuple[str, int]],
        steps: Sequence[Step],
    ) -> _Graph:
        """Under the locks, in one round trip: the person of each identifier read, each person's
        hash (its size; the steps' profiles' for the plan), the steps' profiles' merge history."""
        profiles = list(dict.fromkeys([p for p, _ in sizes] + _step_profiles(steps)))
        history = _step_profiles(steps)
        async with self.redis.pipeline(transaction=False) as pipe:
            for text, _ in cas:
                pipe.get(self.keys.identifier(text))
            for p in profiles:
                pipe.hgetall(self.keys.person(p))
            for p in history:
                pipe.lrange(self.keys.merges(p), 0, -1)
            replies = await pipe.execute()
        idents = [as_text(r) if r else "" for r in replies[: len(cas)]]
        hashes = replies[len(cas) : len(cas) + len(profiles)]
        lists = replies[len(cas) + len(profiles) :]
        return _Graph(
            dict(zip([t for t, _ in cas], idents, strict=True)),
            {
                p: {as_text(f): as_text(v) for f, v in h.items()}
                for p, h in zip(profiles, hashes, strict=True)
            },
            {p: [as_text(m) for m in items] for p, items in zip(history, lists, strict=True)},
        )

    # --- forget -----------------------------------------------------------------------------

    async def forget(self, profile: str) -> int:
        """:meth:`forget_steps` to the end: the keys deleted."""
        session, out = Session(), list[int]()
        try:
            async for _ in self.forget_steps(session, out, profile):
                pass
        except BaseException:
            await self._let_go(session)
            raise
        return out[0]

    async def forget_steps(
        self, session: Session, out: list[int], profile: str
    ) -> AsyncGenerator[str, None]:
        """Delete ``profile``'s person as FORGET does, in steps named as they are made: under
        the locks of the person and of ``profile``, a journal (a pointer on ``profile``, so that
        forgetting it again after a crash finds it even once its identifier is gone), then the
        identifiers and moved markers that still name the person, then its hash, history and
        hand-overs. The keys deleted (by this call: a forget run again after a crash counts the
        rest) go in ``out``."""
        me = Identifier.of_profile(profile)
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while True:
            canonical = await self._canonical(me)
            names = {profile} | ({_profile(canonical)} if canonical else set())
            if canonical is None and not await self._journals_at(names):
                out.append(session.deleted)
                return
            async for name in self._take(session, names):
                yield name
            if session.busy:
                if await self._wait(session.busy, deadline):
                    continue
                raise RuntimeError(f"identity of {profile!r}: {session.busy} stayed locked")
            if await self._canonical(me) != canonical:  # a journal finished moved it: again
                await self._let_go(session)
                continue
            break
        if canonical is not None:
            journal = await self._forget_plan(session.token, names, canonical)
            async for name in self._run(session, journal, fresh=True):
                yield name
        await self._let_go(session)
        yield "released"
        out.append(session.deleted)

    async def _forget_plan(self, token: str, names: set[str], canonical: Identifier) -> Journal:
        """The journal deleting ``canonical``'s person, read under its lock."""
        k, c = self.keys, _profile(canonical)
        members = [as_text(m) for m in await self.redis.hkeys(k.person(c))]
        profiles = [p for p in map(_keyed, members) if p is not None]
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in profiles:
                pipe.get(k.moved(p))
            moved = await pipe.execute()
        first: Stage = [["cad", k.identifier(m), canonical.text] for m in members]
        first += [
            ["cad", k.moved(p), as_text(v)] for p, v in zip(profiles, moved, strict=True) if v
        ]
        last: Stage = [["del", [k.person(c), k.merges(c), k.absorbing(c)]]]
        return Journal(token, "forget", c, sorted(names), [first, last])

    async def _canonical(self, ident: Identifier) -> Identifier | None:
        found = await self.redis.get(self.keys.identifier(ident.text))
        return Identifier.parse(as_text(found)) if found else None
