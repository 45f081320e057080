"""The per-person locks of identity resolution on Redis Cluster: taking, waiting for and
releasing them, and the writes checked against them.

A plan locks every person it touches before it reads again: the canonical profile of each
person it read, and each identifier it found in no person (``pl:{<profile or kind:value>}``,
``SET NX PX``, in sorted order; a lock is lost only by running out, :data:`LOCK_TTL_MS`, and every
step renews it: journal.py). A lock held by another apply is waited for (the holder's merge is a
few round trips; a crashed holder's lock runs out), then the apply starts over: nothing is held
while waiting, so there is no deadlock. Under the locks the compare-and-set of the single Redis
is made again (every identifier read still in the person it was read in, every person its size):
a stale plan is refused whole, with the same conflict as there.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from streams.store.identity_cluster.calls import Calls, _Call

LOCK_TTL_MS: Final = 10_000  # a lock's life, renewed at each stage: a crashed holder's runs out


class LockLost(Exception):
    """A lock ran out while its holder was still at work: another apply holds it now and
    finishes the journal; this one stops."""


@dataclass
class Session:
    """One apply's or forget's locks (by name), under one token."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    held: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)  # journals done: their pointers go
    busy: str = ""  # a lock another holds, which stopped the journals' resumption
    deleted: int = 0  # keys deleted by the forget journals run


class Locks(Calls):
    """Taking, waiting for and releasing a session's locks."""

    async def _lock(self, session: Session, names: Iterable[str]) -> str:
        """Take the locks of ``names`` not held yet, in sorted order; "" when all are held, else
        the name another holds (and every lock of the session is released)."""
        for name in sorted(set(names) - session.held):
            if not await self.redis.set(
                self.lock_key(name), session.token, nx=True, px=self.lock_ttl_ms
            ):
                await self._let_go(session)
                return name
            session.held.add(name)
        return ""

    async def _wait(self, name: str, deadline: float) -> bool:
        """Wait until ``name``'s lock is free (True) or ``deadline`` passes (False)."""
        loop, delay = asyncio.get_running_loop(), 0.002
        while await self.redis.exists(self.lock_key(name)):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    async def _let_go(self, session: Session) -> None:
        """Release every lock the session holds (each only if still its own), with the
        pointers of the journals it finished; best effort after an error (the locks run out)."""
        held, session.held = sorted(session.held), set()
        if not held:
            return
        finished = sorted(session.finished)
        with contextlib.suppress(Exception):
            await self._calls(
                [
                    (
                        self._release,
                        self._pair(n),
                        [session.token, *finished],
                    )
                    for n in held
                ]
            )

    async def _checked(self, calls: list[_Call], names: list[str]) -> None:
        """Run token-checked writes; LockLost if one found its lock gone."""
        for name, reply in zip(names, await self._calls(calls), strict=True):
            if not int(reply):
                raise LockLost(name)
