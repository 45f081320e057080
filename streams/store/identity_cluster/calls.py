"""The base of :class:`ClusterIdentity` (service.py): the keys of a name (its lock, its journal
or pointer), the scripts of lua.py registered, and the one pipeline every batch of commands and
script calls goes through (split per node by the cluster), loading the scripts a primary lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from streams.names import JOURNAL, LOCK, Keys
from streams.store.identity_cluster.lua import (
    ADVANCE,
    CLEAR,
    DELETE_IF,
    HAND_OVER,
    RELEASE,
    RENEW,
    REPLACE_LIST,
    WRITE,
)

_Call = tuple[Any, list[Any], list[Any]]  # (script, keys, args)


class Calls:
    """Keys, scripts and calls, which the locks, the journals and the service share."""

    def __init__(self, redis: Redis, keys: Keys, lock_ttl_ms: int) -> None:
        self.redis = redis
        self.keys = keys
        self.lock_ttl_ms = lock_ttl_ms
        self._release = redis.register_script(RELEASE)
        self._renew = redis.register_script(RENEW)
        self._write = redis.register_script(WRITE)
        self._advance = redis.register_script(ADVANCE)
        self._clear = redis.register_script(CLEAR)
        self._hand_over = redis.register_script(HAND_OVER)
        self._replace_list = redis.register_script(REPLACE_LIST)
        self._delete_if = redis.register_script(DELETE_IF)
        self._scripts = (
            self._release, self._renew, self._write, self._advance, self._clear,
            self._hand_over, self._replace_list, self._delete_if,
        )  # fmt: skip

    def lock_key(self, name: str) -> str:
        """The lock of a person (its canonical profile) or of an identifier of no person."""
        return self.keys.user(LOCK, name)

    def journal_key(self, name: str) -> str:
        """A journal (on its owner) or a pointer to one (on its other locks' names)."""
        return self.keys.user(JOURNAL, name)

    def _pair(self, name: str) -> list[str]:
        """A name's lock and journal keys (one slot: both are tagged by the name)."""
        return [self.lock_key(name), self.journal_key(name)]

    # --- calls ------------------------------------------------------------------------------

    async def _calls(self, calls: Sequence[_Call]) -> list[Any]:
        """Commands and script calls in one pipeline (split per node by a cluster); the script
        calls a primary refused for want of the script run again once it is loaded, alone."""
        if not calls:
            return []
        replies = await self._pipeline(calls)
        refused = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if refused:
            for script in self._scripts:
                await self.redis.script_load(script.script)
            again = await self._pipeline([calls[i] for i in refused])
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        failed = next((r for r in replies if isinstance(r, Exception)), None)
        if failed is not None:
            raise failed
        return replies

    async def _pipeline(self, calls: Sequence[_Call]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for op, keys, args in calls:
            if not isinstance(op, str):
                await op(keys, args, client=pipe)  # a script
            elif op == "hset":
                pipe.hset(keys[0], mapping=args[0])
            elif op == "xadd":
                pipe.xadd(keys[0], {"m": args[0]})
            else:
                getattr(pipe, op)(*keys, *args)
        return list(await pipe.execute(raise_on_error=False))
