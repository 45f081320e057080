"""``portrait migrate-keys`` in real Redis: old names to the namespaced ones, idempotent,
resumable, a dry run that moves nothing, taken names left alone."""

from __future__ import annotations

from collections import Counter

import pytest
from redis.asyncio import Redis

from streams.names import USER_KINDS, Keys
from streams.settings.tree import Settings
from streams.store.migrate import Tally, legacy_due_key, migrate_keys
from tests.integration.app.test_cli import portrait, service_env

pytestmark = pytest.mark.integration
OLD = Keys("")  # the per-user names and the recall index before the namespace
HASHES = [kind for kind in USER_KINDS if kind != "p2"]


async def seed(redis: Redis, namespace: str, users: list[str]) -> None:
    """Every kind of old key for ``users``; one due and one recall entry each."""
    for u in users:
        await redis.set(OLD.profile(u), f"0:1;{u}")
        for kind in HASHES:
            await redis.hset(OLD.user(kind, u), "f", f"{kind}-{u}")
        await redis.zadd(legacy_due_key(namespace), {f"cart\x1f{u}": 100})
        await redis.zadd(OLD.recall_index, {u: 500})


def counts(**by_kind: int) -> Counter[str]:
    return Counter({k: n for k, n in by_kind.items() if n})


async def test_migrate_moves_every_old_key_once(redis: Redis, namespace: str) -> None:
    users = [namespace + u for u in ("ann", "b:c", "d e")]
    new = Keys(namespace)
    await seed(redis, namespace, users)
    await redis.set(new.profile(users[0]), "0:9;newer")  # the new release wrote it already
    await redis.zadd(new.due, {f"cart\x1f{users[1]}": 900})  # rescheduled since: kept
    await redis.zadd(new.recall_index, {users[2]: 50})  # an earlier deadline: the later wins
    glob = f"{namespace}*"
    every = dict.fromkeys(USER_KINDS, 3)

    dry = await migrate_keys(redis, namespace, dry_run=True, batch=2, user_glob=glob)
    assert (dry.found, dry.moved, dry.taken) == (
        counts(**every, tdue=1, trecall=1),
        Counter(),
        counts(p2=1),
    )
    assert await redis.exists(*(OLD.user(k, u) for k in USER_KINDS for u in users)) == 3 * len(
        USER_KINDS
    )

    done = await migrate_keys(redis, namespace, batch=2, user_glob=glob)
    assert (done.found, done.moved, done.taken) == (
        counts(**every, tdue=1, trecall=1),
        counts(**every, tdue=1, trecall=1) - counts(p2=1),
        counts(p2=1),
    )
    assert await redis.get(new.profile(users[0])) == b"0:9;newer"
    assert await redis.get(OLD.profile(users[0])) == b"0:1;" + users[0].encode()  # left
    for u in users[1:]:
        assert await redis.get(new.profile(u)) == f"0:1;{u}".encode()
    for kind in HASHES:
        for u in users:
            assert await redis.hgetall(new.user(kind, u)) == {b"f": f"{kind}-{u}".encode()}
    assert await redis.exists(*(OLD.user(k, u) for k in HASHES for u in users)) == 0
    assert await redis.exists(legacy_due_key(namespace), OLD.recall_index) == 0
    due = await redis.zrange(new.due, 0, -1, withscores=True)
    assert sorted(due) == sorted(
        [(f"cart\x1f{users[0]}".encode(), 100), (f"cart\x1f{users[1]}".encode(), 900),
         (f"cart\x1f{users[2]}".encode(), 100)]
    )  # fmt: skip
    assert dict(await redis.zrange(new.recall_index, 0, -1, withscores=True)) == {
        u.encode(): 500 for u in users
    }

    again = await migrate_keys(redis, namespace, batch=2, user_glob=glob)
    assert (again.found, again.moved, again.taken) == (counts(p2=1), Counter(), counts(p2=1))
    await redis.delete(OLD.profile(users[0]))


async def test_an_interrupted_run_is_finished_by_the_next(redis: Redis, namespace: str) -> None:
    users = [f"{namespace}u{i}" for i in range(5)]
    await seed(redis, namespace, users)
    calls = 0

    def stop_after_two(_: Tally) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await migrate_keys(
            redis, namespace, batch=2, user_glob=f"{namespace}*", progress=stop_after_two
        )
    first = Keys(namespace)
    assert await redis.exists(*(first.profile(u) for u in users)) == 4  # two batches of two
    rest = await migrate_keys(redis, namespace, batch=2, user_glob=f"{namespace}*")
    assert rest.moved == counts(**{**dict.fromkeys(USER_KINDS, 5), "p2": 1}, tdue=1, trecall=1)
    assert await redis.exists(*(first.user(k, u) for k in USER_KINDS for u in users)) == 5 * len(
        USER_KINDS
    )
    assert await redis.zcard(first.due) == 5


async def test_an_empty_namespace_has_nothing_to_move(redis: Redis, namespace: str) -> None:
    await redis.set(OLD.profile(namespace + "solo"), "x")
    try:
        tally = await migrate_keys(redis, "", user_glob=f"{namespace}*")
        assert (tally.found, tally.moved) == (Counter(), Counter())
        assert await redis.get(OLD.profile(namespace + "solo")) == b"x"
    finally:
        await redis.delete(OLD.profile(namespace + "solo"))


async def test_the_command_counts_then_moves(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    users = [namespace + "cli"]
    await seed(redis, namespace, users)
    env = service_env(settings)  # PORTRAIT_CONFIG names the namespace
    kinds = "gdpr 1, p2 1, tdue 1, tf 1, tq 1, tr 1, trc 1, trecall 1, ts 1, tx 1"

    dry = portrait("migrate-keys", "--dry-run", "--quiet", env=env)
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout == (
        f"portrait migrate-keys ({namespace!r}, dry run): 10 keys to move ({kinds}); 0 taken\n"
    )
    run = portrait("migrate-keys", env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (
        f"portrait migrate-keys ({namespace!r}): 10 keys found ({kinds}); 10 moved, "
        "0 left in place (new name taken)\n"
    )
    assert run.stderr.startswith("portrait migrate-keys: "), run.stderr
    assert await redis.get(Keys(namespace).profile(users[0])) == f"0:1;{users[0]}".encode()
