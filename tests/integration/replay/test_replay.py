"""``portrait replay``: the real logs through the worker's pipeline, direct and via Kafka.

Profiles are keyed by the logs' own user ids, so each replay gets a Redis database of its own
(``fresh_db``) instead of the usual namespaced user ids.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from profiles.changes import SEGMENTS
from profiles.model import ProfileModel, State
from streams.app.embedded import free_port
from streams.replay.command import replay
from streams.replay.reference import price_reference
from streams.replay.sources import read_messages
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from tests.integration.helpers import T0, ev, load_states, running_worker, wait_until
from tests.tagdocs import documented_tags

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("PORTRAIT_DATA_DIR") or REPO.parent / "shared/data")
REES46 = DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv"
TAOBAO = DATA / "taobao_userbehavior_by_user" / "UserBehavior.csv"
TAOBAO_SLICE = DATA / "taobao_userbehavior_time_slice" / "UserBehavior.csv"
DAY = 86_400_000
_dbs = itertools.cycle(range(1, 13))  # 13..15: test_stream_equals_batch.py


def needs(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared logs are not on this machine")
    return path


async def fresh_db(settings: Settings) -> Settings:
    """``settings`` pointing at an emptied Redis database of its own (1..12)."""
    parts = urlsplit(settings.redis_url)
    url = urlunsplit(parts._replace(path=f"/{next(_dbs)}"))
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    return dataclasses.replace(settings, redis_url=url)


def with_prices(settings: Settings, table: dict[str, float]) -> Settings:
    """The configured price reference: the worker's and the direct replay's."""
    return dataclasses.replace(
        settings, model=dataclasses.replace(settings.model, price_reference=table)
    )


async def all_states(settings: Settings) -> dict[str, State]:
    redis = Redis.from_url(settings.redis_url)
    try:
        store = ProfileStore(redis, settings.topics.prefix)
        return await store.load_many(await store.user_ids())
    finally:
        await redis.aclose()


def views(settings: Settings, states: dict[str, State], as_of: int) -> dict[str, Any]:
    model = ProfileModel(settings.model)
    return {uid: model.view(uid, state, as_of) for uid, state in states.items()}


def assert_same_views(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal views, but for what depends on how the events were batched, not on the events:

    - the change times of segments, which the worker records per batch (docs/tags.md, "When a
      tag changed"), and
    - the last bits of decayed scores (floating-point sums in another order).
    """
    assert a.keys() == b.keys()
    for uid in a:
        assert same(batch_free(a[uid]), batch_free(b[uid])), (uid, a[uid], b[uid])


def batch_free(view: dict[str, Any]) -> dict[str, Any]:
    changed = view.get("changed_at", {})
    return {**view, "changed_at": {k: v for k, v in changed.items() if k not in SEGMENTS}}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize(
    "path,rows,duplicates,users",
    [(REES46, 17_434, 5, 4_504), (TAOBAO, 84_475, 0, 815), (TAOBAO_SLICE, 110_300, 0, 66_454)],
    ids=["rees46", "taobao-by-user", "taobao-time-slice"],
)
async def test_direct_replay_of_a_real_log_then_again_applies_nothing(
    settings: Settings, path: Path, rows: int, duplicates: int, users: int
) -> None:
    settings = await fresh_db(settings)
    registry = CollectorRegistry()
    first = await replay(settings, needs(path), progress=False, registry=registry)

    assert (first.rows, first.duplicates, first.users, first.rejected) == (
        rows, duplicates, users, {},
    )  # fmt: skip
    assert first.events_applied == rows - duplicates
    assert first.replayed == 0
    assert first.first_ts is not None and first.last_ts is not None
    assert first.first_ts < first.last_ts
    states = await all_states(settings)
    assert len(states) == users
    small = users < 10_000  # the slice's 66k users: the counts say enough, and stay quick
    assert registry.get_sample_value("portrait_replay_rows_total") == rows
    assert registry.get_sample_value("portrait_replay_events_total", {"outcome": "applied"}) == (
        rows - duplicates
    )
    if small:  # every applied event is counted once in its user's profile
        tags = views(settings, states, first.last_ts)
        assert sum(view["tags"]["events_total"] for view in tags.values()) == rows - duplicates

    if not small:
        return  # re-running loads every state again: ~10 s here, proven on the other logs
    again = await replay(settings, path, progress=False)
    assert (again.rows, again.events_applied, again.duplicates, again.replayed) == (
        rows, 0, 0, rows,
    )  # fmt: skip
    assert await all_states(settings) == states


async def test_taobao_sorted_and_unsorted_give_the_same_profiles(settings: Settings) -> None:
    path = needs(TAOBAO)
    unsorted_db, sorted_db = await fresh_db(settings), await fresh_db(settings)
    unsorted = await replay(unsorted_db, path, progress=False)
    in_order = await replay(sorted_db, path, sort=True, progress=False)
    assert unsorted.events_applied == in_order.events_applied == 84_475
    assert in_order.last_ts is not None

    a, b = await all_states(unsorted_db), await all_states(sorted_db)
    assert len(a) == len(b) == 815
    for as_of in (in_order.last_ts, in_order.last_ts + 45 * DAY):
        assert_same_views(views(settings, a, as_of), views(settings, b, as_of))


async def test_kafka_replay_through_a_worker_equals_direct(settings: Settings) -> None:
    path = needs(REES46)
    settings = with_prices(settings, price_reference(read_messages(path)))
    direct_db, worker_db = await fresh_db(settings), await fresh_db(settings)
    direct = await replay(direct_db, path, progress=False)

    async with running_worker(worker_db) as registry:
        produced = await replay(worker_db, path, via="kafka", progress=False)
        assert (produced.rows, produced.produced, produced.users) == (17_434, 17_434, 4_504)

        async def all_consumed() -> bool:
            return events_seen(registry) >= produced.rows

        await wait_until(all_consumed, within=90, what="the worker to consume the log")
    assert events_seen(registry) == 17_434
    assert direct.last_ts is not None
    worker_states, direct_states = await all_states(worker_db), await all_states(direct_db)
    assert len(worker_states) == 4_504
    as_of = direct.last_ts
    assert_same_views(views(settings, worker_states, as_of), views(settings, direct_states, as_of))


def events_seen(registry: CollectorRegistry) -> float:
    """Every event the worker consumed, whatever its outcome."""
    return sum(
        sample.value
        for family in registry.collect()
        if family.name == "portrait_events"
        for sample in family.samples
        if sample.name == "portrait_events_total"
    )


def jsonl(tmp_path: Path, lines: list[dict[str, Any] | bytes]) -> Path:
    path = tmp_path / "events.jsonl"
    raw = [line if isinstance(line, bytes) else orjson.dumps(line) for line in lines]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


async def test_jsonl_with_bad_lines_reports_them_by_line(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = await fresh_db(settings)
    user = namespace + "ann"
    path = jsonl(
        tmp_path,
        [
            ev("view", user, T0, item_id="i1"),
            b"",
            ev("add_to_cart", user, T0 + 1000, item_id="i1", price=20.0),
            b'{"event_id": "x1", "type": "view",',  # line 4: truncated
            {"event_id": "x2", "type": "view", "user_id": user, "ts": 1717156800},  # seconds
            ev("purchase", user, T0 + 2000, item_id="i1", price=20.0),
        ],
    )
    rejected_file = tmp_path / "rejected.jsonl"
    registry = CollectorRegistry()
    result = await replay(
        settings, path, progress=False, registry=registry, rejected_to=rejected_file
    )

    assert (result.rows, result.events_applied, result.users) == (5, 3, 1)
    assert result.rejected == {"invalid_json": 1, "bad_timestamp": 1}
    assert [line for line, _ in result.examples["invalid_json"]] == [4]
    assert [line for line, _ in result.examples["bad_timestamp"]] == [5]
    written = [orjson.loads(line) for line in rejected_file.read_bytes().splitlines()]
    assert [(w["line"], w["reason"]) for w in written] == [
        (4, "invalid_json"),
        (5, "bad_timestamp"),
    ]
    assert written[0]["value"] == '{"event_id": "x1", "type": "view",'
    assert registry.get_sample_value("portrait_replay_rejected_total", {"reason": "invalid_json"})
    tags = (await load_states(settings, [user]))[user]
    assert ProfileModel(settings.model).tags(tags, T0 + 3000)["events_total"] == 3


async def test_csv_rows_that_cannot_be_mapped_are_reported_with_the_adapters_reason(
    settings: Settings, tmp_path: Path
) -> None:
    settings = await fresh_db(settings)
    path = tmp_path / "UserBehavior.csv"
    path.write_text(
        "1,2268318,2520377,pv,1511544070\n"
        "1,2268318,2520377,click,1511544071\n"
        "1,2268318,2520377\n"
        "2,2268318,2520377,buy,1511544072\n"
    )
    result = await replay(settings, path, progress=False)
    assert (result.rows, result.events_applied, result.users) == (4, 2, 2)
    assert result.examples == {
        "unknown_type": [
            (2, "taobao line 2: behavior_type 'click' is not one of pv, cart, fav, buy")
        ],
        "missing_type": [(3, "taobao line 3: 3 columns, expected 5")],
    }


async def test_kafka_replay_leaves_bad_rows_to_the_workers_dead_letters(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = await fresh_db(settings)
    user = namespace + "bob"
    path = jsonl(tmp_path, [ev("view", user, T0), b"{not json", ev("view", user, T0 + 1)])
    async with running_worker(settings) as registry:
        result = await replay(settings, path, via="kafka", progress=False)
        assert (result.produced, result.rejected) == (3, {"invalid_json": 1})

        async def all_consumed() -> bool:
            return events_seen(registry) >= 3

        await wait_until(all_consumed, what="the worker to consume 3 events")
    assert registry.get_sample_value("portrait_dlq_total", {"reason": "invalid_json"}) == 1


# --- the command --------------------------------------------------------------------------------


def portrait(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDIS_URL": settings.redis_url,
    }
    env.pop("PORTRAIT_METRICS_PORT", None)
    return subprocess.run(
        [sys.executable, "-m", "streams.app.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_replay_command_exits_0_and_reports_rejected_rows(
    settings: Settings, namespace: str, tmp_path: Path
) -> None:
    settings = await fresh_db(settings)
    path = jsonl(tmp_path, [ev("view", namespace + "cy", T0), b"[1, 2]"])
    rejected = tmp_path / "out" / "rejected.jsonl"
    rejected.parent.mkdir()
    done = portrait("replay", str(path), "--quiet", "--rejected", str(rejected), settings=settings)
    assert done.returncode == 0, done.stderr
    assert "2 rows, 1 applied, 0 duplicates, 0 already applied, 1 rejected" in done.stdout
    assert "  not_an_object: 1\n    line 2: top level is list" in done.stdout
    assert done.stderr == ""
    assert orjson.loads(rejected.read_bytes())["line"] == 2


@pytest.mark.parametrize(
    "args,error",
    [
        (["{tmp}/missing.csv"], "portrait replay: no such file: {tmp}/missing.csv"),
        (["{tmp}/junk.txt"], "cannot tell the format from its first line"),
        (["{tmp}/log.jsonl", "--price-reference", "{tmp}/junk.txt"], "is not JSON"),
        (["{tmp}/log.jsonl", "--rejected", "{tmp}/no/such/dir"], "cannot write"),
        (["{tmp}/log.jsonl", "--via", "kafka", "--price-reference", "{tmp}/p.json"],
         "a price reference applies to direct replays"),
    ],
)  # fmt: skip
def test_replay_command_exits_2_with_one_line(
    settings: Settings, tmp_path: Path, args: list[str], error: str
) -> None:
    (tmp_path / "junk.txt").write_text("a;b;c\n")
    (tmp_path / "p.json").write_text('{"shoes": 10.0}')
    jsonl(tmp_path, [ev("view", "u-1", T0)]).rename(tmp_path / "log.jsonl")
    done = portrait("replay", *[a.format(tmp=tmp_path) for a in args], settings=settings)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("portrait replay: ") and done.stderr.count("\n") == 1
    assert error.format(tmp=tmp_path) in done.stderr


@pytest.mark.parametrize(
    "via,down,error",
    [
        ("direct", "redis_url", "portrait replay: cannot reach Redis at redis://127.0.0.1:"),
        ("kafka", "kafka_bootstrap_servers", "portrait replay: cannot reach Kafka at 127.0.0.1:"),
    ],
)
def test_replay_command_exits_2_when_a_service_is_unreachable(
    settings: Settings, tmp_path: Path, via: str, down: str, error: str
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    changes: dict[str, Any] = {down: f"redis://{nowhere}/0" if down == "redis_url" else nowhere}
    path = jsonl(tmp_path, [ev("view", "u-1", T0)])
    done = portrait(
        "replay", str(path), "--via", via, settings=dataclasses.replace(settings, **changes)
    )
    assert (done.returncode, done.stdout) == (2, "")
    reason = [line for line in done.stderr.splitlines() if line.startswith("portrait replay:")]
    assert len(reason) == 1 and reason[0].startswith(error), done.stderr  # (and client logs)


def test_price_reference_command_prints_the_table(settings: Settings) -> None:
    path = needs(REES46)
    done = portrait("price-reference", str(path), settings=settings)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == price_reference(read_messages(path))


async def test_profile_get_after_replaying_a_real_log_shows_the_whole_catalogue(
    settings: Settings,
) -> None:
    """The issue's "done when": replay a real log, then read one user as of a time."""
    path = needs(REES46)
    settings = await fresh_db(settings)
    assert portrait("replay", str(path), "--quiet", settings=settings).returncode == 0
    buyer = "513489079"  # a REES46 user with 6 views, 3 cart adds and a purchase in the head
    done = portrait("profile", "get", buyer, "--as-of", "2019-10-01T03:00:00Z", settings=settings)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    business = {t.name for t in settings.rules.tags}  # the default pack (docs/rules.md)
    assert set(doc["tags"]) == documented_tags() | business
    assert set(doc["changed_at"]) == set(doc["tags"])
    assert doc["as_of"] == "2019-10-01T03:00:00.000Z"
    tags = doc["tags"]
    assert tags["purchases_total"] >= 1 and tags["spend_total"] > 0
    assert tags["top_category"] == doc["categories"][0][0]
    assert tags["lifecycle"] == "new" and tags["rfm_r"] == 5
    assert doc["active_hours"] and tags["peak_hour"] is not None
