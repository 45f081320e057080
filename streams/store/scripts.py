"""Lua script calls sent in one pipeline, on a single Redis or a Redis Cluster (docs/cluster.md).

A single Redis's pipeline loads the scripts it lacks before it runs; a cluster's does not (in
redis-py's asyncio ``ClusterPipeline``), so a primary that never saw a script (a new node, a
promoted replica, a restart) answers ``NOSCRIPT``. :func:`run_scripts` then loads the scripts on
every primary and runs again only the calls that were refused: the others have run, and a second
run of a counting script would report them as repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Call: TypeAlias = tuple[AsyncScript, list[Any], list[Any]]  # (script, keys, args)


async def run_scripts(redis: Redis, calls: Sequence[Call]) -> list[Any]:
    """Each call's reply, in order; the first error (other than a reloaded NOSCRIPT) raised."""
    if not calls:
        return []
    replies = await _pipeline(redis, calls)
    refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if refused:
        for script in {id(c[0]): c[0] for c in calls}.values():
            await redis.script_load(script.script)
        again = await _pipeline(redis, [calls[i] for i in refused])
        for i, reply in zip(refused, again, strict=True):
            replies[i] = reply
    failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
    if failed is not None:
        raise failed
    return replies


async def _pipeline(redis: Redis, calls: Sequence[Call]) -> list[Any]:
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        await script(keys, args, client=pipe)
    return list(await pipe.execute(raise_on_error=False))
