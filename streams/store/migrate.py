"""``portrait migrate-keys``: move the keys of the earlier naming rules under the namespace.

Before one key scheme (streams/names.py ``Keys``), per-user keys and the recall index carried no
namespace (``portrait:p2:{u}``, ``portrait:trecall``) and the due index had it mid-key
(``portrait:<ns>tdue``). With an empty ``topics.prefix`` every old name equals its new one and
there is nothing to move.

A per-user key is renamed (``RENAMENX``: old and new share the ``{user_id}`` hash tag, hence one
Cluster slot); one whose new name is already held is left in place and counted as taken. The
two sorted sets are merged member by member (their old and new names lie in different slots) and
the old one deleted: the due index keeps a member already in the new one (``NX``, the newer
schedule), the recall index the later deadline (``GT``). Every step is idempotent, so a run that
stops half-way is finished by running it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Final, cast

from redis.asyncio import Redis

from streams.names import KEY_ROOT, USER_KINDS, Keys, user_id_from_key

LEGACY: Final = Keys("")  # the un-namespaced names: per-user keys and the recall index
DUE: Final = "tdue"
RECALL_INDEX: Final = "trecall"


@dataclass
class Tally:
    """Keys found under an old name, moved, and left because the new name was taken, by kind
    (a sorted set merged into a taken name counts as moved)."""

    found: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)
    taken: Counter[str] = field(default_factory=Counter)

    def line(self, dry_run: bool) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.found.items()) if n) or "none"
        if dry_run:
            return f"{self.found.total()} keys to move ({kinds}); {self.taken.total()} taken"
        return (
            f"{self.found.total()} keys found ({kinds}); {self.moved.total()} moved, "
            f"{self.taken.total()} left in place (new name taken)"
        )


def legacy_due_key(namespace: str) -> str:
    return f"{KEY_ROOT}:{namespace}{DUE}"


async def migrate_keys(
    redis: Redis,
    namespace: str,
    *,
    dry_run: bool = False,
    batch: int = 1000,
    user_glob: str = "*",
    progress: Callable[[Tally], object] = lambda _: None,
) -> Tally:
    """Move every old-named key of ``namespace`` (``user_glob``: only users matching it, for a
    shared Redis in tests). ``dry_run``: count, move nothing."""
    tally = Tally()
    if not namespace:
        return tally
    keys = Keys(namespace)
    for kind in USER_KINDS:
        async for found in _scan(redis, LEGACY.user_pattern(kind, user_glob), batch):
            await _rename(redis, keys, kind, found, tally, dry_run)
            progress(tally)
    for kind, old, new, how in (
        (DUE, legacy_due_key(namespace), keys.due, "nx"),
        (RECALL_INDEX, LEGACY.recall_index, keys.recall_index, "gt"),
    ):
        await _merge(redis, kind, old, new, how, tally, dry_run, batch)
        progress(tally)
    return tally


async def _scan(redis: Redis, pattern: str, batch: int) -> AsyncIterator[list[bytes]]:
    found: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=batch):
        found.append(key)
        if len(found) >= batch:
            yield found
            found = []
    if found:
        yield found


async def _rename(
    redis: Redis, keys: Keys, kind: str, found: list[bytes], tally: Tally, dry_run: bool
) -> None:
    targets = [keys.user(kind, user_id_from_key(k.decode())) for k in found]
    pipe = redis.pipeline(transaction=False)
    for old, new in zip(found, targets, strict=True):
        if dry_run:
            pipe.exists(new)
        else:
            pipe.renamenx(old, new)
    # raise_on_error=False: a key gone since the SCAN answers "no such key", which is no error
    for reply in await pipe.execute(raise_on_error=False):
        if isinstance(reply, Exception):  # SCAN may name a key twice; the second is gone
            continue
        tally.found[kind] += 1
        taken = bool(reply) if dry_run else not reply  # EXISTS new, or RENAMENX refused
        tally.taken[kind] += taken
        tally.moved[kind] += not dry_run and not taken


async def _merge(
    redis: Redis,
    kind: str,
    old: str,
    new: str,
    how: str,
    tally: Tally,
    dry_run: bool,
    batch: int,
) -> None:
    if not await redis.zcard(old):
        return
    tally.found[kind] += 1
    if dry_run:
        return
    while page := await redis.zrange(old, 0, batch - 1, withscores=True):
        mapping = dict(cast(list[tuple[bytes, float]], page))
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(new, mapping, nx=how == "nx", gt=how == "gt")
        pipe.zrem(old, *mapping)
        await pipe.execute()
    tally.moved[kind] += 1
