"""The journals of identity resolution on Redis Cluster: writing one and its pointers, running
its stages, marking them done, clearing it, and resuming what a crash left.

The plan's writes are computed under the locks, in order, as single-slot operations
(plan.py), and kept in a journal on the survivor's slot (``pj:{survivor}``: the operations in
stages, the stages done, the locks, an id) before the first one is made; every other lock's
name gets a pointer to it (``pj:{name}``, written *before* the journal, so that no journal is ever
out of reach). A crash leaves the journal: the next apply or forget that locks any name of it
(any plan touching one of its persons locks one: an identifier of them names one of the
journal's profiles, or is one of its new identifiers) takes its other locks and finishes it from
the first stage not marked done, before its own compare-and-set. The graph's writes (person
hashes, identifier pointers, merge history) are written as values computed up front, which only
lock holders change; the absorbed profile's own keys, which the worker's profile writes and
the trigger store change too, are read when moved (:meth:`Journals._hand`).

Then the pointers go, the journal, and the locks. Every stage is safe to run again (the
``moved`` stage re-reads what it moves; a hand-over moved twice is folded once:
``State.absorbed``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Final

import orjson

from streams.names import due_member
from streams.store.identity_cluster.calls import _Call
from streams.store.identity_cluster.locks import LockLost, Locks, Session
from streams.store.identity_cluster.plan import Journal, Stage, _pairs, _stage_name
from streams.store.triggers import as_text
from triggers.config import KINDS

_CLEARED: Final = {
    "apply": ("pointers cleared", "journal cleared"),
    "forget": ("journal cleared", "pointers cleared"),
}


class Journals(Locks):
    """Keeping, running and resuming journals, under a session's locks."""

    async def _journals_at(self, names: Iterable[str]) -> bool:
        """Whether a journal or a pointer to one is kept under any of ``names`` (a read without
        the locks: an apply with nothing to change still finishes what a crash left)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(self.journal_key(name))
            return any(int(n) for n in await pipe.execute())

    async def _load(self, names: Sequence[str]) -> list[Journal | dict[str, str] | None]:
        """What each name keeps: a journal, a pointer to one (``owner``, ``id``), or nothing."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.journal_key(name))
            replies = await pipe.execute()
        out: list[Journal | dict[str, str] | None] = []
        for name, raw in zip(names, replies, strict=True):
            found = {as_text(k): as_text(v) for k, v in raw.items()}
            if "stages" in found:
                out.append(
                    Journal(
                        found["id"],
                        found["kind"],
                        name,
                        orjson.loads(found["locks"]),
                        orjson.loads(found["stages"]),
                        int(found["done"]),
                    )
                )
            else:
                out.append(found or None)
        return out

    async def _journal(self, session: Session, owner: str, id_: str) -> Journal | None:
        """The journal ``id_`` on ``owner``, or None (and a pointer to it is stale: it goes
        with its lock)."""
        (found,) = await self._load([owner])
        if isinstance(found, Journal) and found.id == id_:
            return found
        session.finished.add(id_)
        return None

    async def _take(self, session: Session, names: Iterable[str]) -> AsyncIterator[str]:
        """Take the locks of ``names``, then finish the journals a crash left under them, each
        write named as it is made; ``session.busy`` then names a lock another holds ("": all
        held and nothing left unfinished; else the caller waits for it and starts again)."""
        session.busy = await self._lock(session, names)
        if session.busy:
            return
        yield "locked"
        async for name in self._resume(session):
            yield name

    async def _resume(self, session: Session) -> AsyncIterator[str]:
        """Finish every journal kept under a name the session holds (taking the journal's other
        locks, then reading it again: a stage another made meanwhile is not made twice), in the
        order found; ``session.busy`` names a lock another holds, which stops this (the caller
        lets go, waits and starts again)."""
        session.busy = ""
        seen: set[str] = set()
        while todo := sorted(session.held - seen):
            seen.update(todo)
            for found in await self._load(todo):
                if found is None:
                    continue
                if isinstance(found, dict):  # a pointer: its journal, unless it is gone
                    owner, id_ = found["owner"], found["id"]
                else:
                    owner, id_ = found.owner, found.id
                if id_ in session.finished:
                    continue
                journal = await self._journal(session, owner, id_)
                if journal is None:
                    continue
                busy = await self._lock(session, journal.locks)
                if busy:
                    session.busy = busy
                    return
                journal = await self._journal(session, owner, id_)
                if journal is not None:
                    async for step in self._run(session, journal, fresh=False):
                        yield step

    async def _run(self, session: Session, journal: Journal, fresh: bool) -> AsyncIterator[str]:
        """Make ``journal``'s stages from the first not done, each marked done after it; a new
        one is first written: the pointers, then the journal."""
        if fresh:
            others = [n for n in journal.locks if n != journal.owner]
            await self._checked(
                [
                    (
                        self._write,
                        self._pair(n),
                        [session.token, "owner", journal.owner, "id", journal.id],
                    )
                    for n in others
                ],
                others,
            )
            yield "pointers"
            body = [
                "id", journal.id, "kind", journal.kind, "locks", orjson.dumps(journal.locks),
                "stages", orjson.dumps(journal.stages), "done", 0,
            ]  # fmt: skip
            owner = journal.owner
            await self._checked(
                [
                    (
                        self._write,
                        self._pair(owner),
                        [session.token, *body],
                    )
                ],
                [owner],
            )
            yield "journal"
        while journal.done < len(journal.stages):
            async for name in self._stage(session, journal, journal.stages[journal.done]):
                yield name
            journal.done += 1
            await self._renew_all(session, journal.owner, journal)
            yield f"stage {journal.done} done"
        # done: the journal and its pointers go, the one still reachable last, so that a crash
        # in between leaves nothing no plan would find: an apply's owner is the survivor,
        # whose person any later plan on it locks (its pointers' names joined that person or
        # are gone with an absorbed one); a forget's owner is gone with the person, and its
        # pointer is where forgetting the same profile again looks
        owner = journal.owner
        others = [n for n in journal.locks if n != owner]
        pointers = [(self._clear, self._pair(n), [session.token, journal.id]) for n in others]
        itself = [(self._clear, self._pair(owner), [session.token, journal.id])]
        order = [pointers, itself] if journal.kind == "apply" else [itself, pointers]
        for calls, name in zip(order, _CLEARED[journal.kind], strict=True):
            await self._calls(calls)
            yield name
        session.finished.add(journal.id)

    async def _stage(self, session: Session, journal: Journal, stage: Stage) -> AsyncIterator[str]:
        """One stage's operations: a hand-over's three round trips, else one pipeline."""
        if stage[0][0] == "hand":
            _, gone, into, history = stage[0]
            async for name in self._hand(gone, into, history):
                yield name
            return
        calls: list[_Call] = []
        for op in stage:
            kind = op[0]
            if kind == "cad":
                calls.append((self._delete_if, [op[1]], [op[2]]))
            elif kind == "del":
                calls.append(("delete", op[1], []))
            elif kind in ("hset", "set", "xadd"):
                calls.append((kind, [op[1]], [op[2]]))
            else:
                raise ValueError(f"an identity journal's operation {kind!r} is unknown")
        replies = await self._calls(calls)
        if journal.kind == "forget":
            session.deleted += sum(int(r) for r in replies)
        yield _stage_name(stage)

    async def _hand(self, gone: str, into: str, history: list[str]) -> AsyncIterator[str]:
        """Step 3 of a merge: the absorbed profile's state handed over and the profile marked
        moved (one script), what it held moved to the survivor, then its keys deleted."""
        k = self.keys
        own = [k.profile(gone), k.absorbing(gone), k.moved(gone), k.pending(gone), k.sent(gone)]
        handed, slots, sent = await self._hand_over(own, [gone, into])
        yield "handed over"
        due = list(dict.fromkeys(due_member(as_text(s), gone) for s in [*slots, *KINDS]))
        calls: list[_Call] = [
            ("zrem", [k.due_for(gone, True)], due),
            (self._replace_list, [k.merges(into)], history),
        ]
        if handed:
            calls.append(("hset", [k.absorbing(into)], [_pairs(handed)]))
        calls += [("hsetnx", [k.sent(into)], [f, v]) for f, v in _pairs(sent).items()]
        await self._calls(calls)
        yield "moved"
        await self.redis.delete(
            k.person(gone), k.absorbing(gone), k.pending(gone), k.sent(gone), k.merges(gone)
        )
        yield "absorbed keys deleted"

    async def _renew_all(self, session: Session, owner: str, journal: Journal) -> None:
        """Mark the journal's stages done and renew every lock; LockLost if one ran out."""
        k = self._pair(owner)
        calls: list[_Call] = [
            (self._advance, k, [session.token, journal.id, journal.done, self.lock_ttl_ms])
        ]
        calls += [
            (self._renew, [self.lock_key(n)], [session.token, self.lock_ttl_ms])
            for n in sorted(session.held - {owner})
        ]
        replies = await self._calls(calls)
        lost = [
            n
            for n, r in zip([owner, *sorted(session.held - {owner})], replies, strict=True)
            if not int(r)
        ]
        if lost:
            raise LockLost(lost[0])
