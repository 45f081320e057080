"""The rules commands as a user runs them, against a real broker and Redis: rules check,
segment list and export (member sets and states seeded directly, as the worker would leave
them), explain, tag set (the produced events decode as tag events, deduplicate per run, and
are audited) and model fit (the rules file rewritten in its model block only)."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from profiles.codec import encode
from profiles.events import decode, from_dict
from profiles.model import ProfileModel, State
from profiles.rules import load_rules_file
from streams.connect.clients import kafka_options, redis_client
from streams.connect.topics import ensure_topics
from streams.names import TOPIC_EVENTS, Keys
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore, Write
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.helpers import DAY, T0, ev

pytestmark = pytest.mark.integration

RULES = """\
# test rules (this comment must survive model fit)
tags:
  - name: vip_manual
    path: marketing/manual
    manual: {values: [gold, silver]}
  - name: big_spender
    path: consumption/value
    rule: {spend_total: {">=": 100}}
  - name: likes_baby
    path: preference/inferred
    model:
      kind: logistic
      features:
        category_affinity.baby: 0.0
        category_affinity.tools: 0.0
      intercept: 0.0
segments:
  - name: repeat_buyers
    description: Two orders or more.
    where: {orders_total: {">=": 2}}
  - name: big_or_vip
    where: {any: [{big_spender: true}, {vip_manual: gold}]}
"""


@pytest.fixture
def rules_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return {**service_env(settings), "PORTRAIT_RULES": str(path)}


async def seed_members(settings: Settings, segment: str, users: Iterable[str]) -> None:
    redis = redis_client(settings)
    try:
        members = list(users)
        for start in range(0, len(members), 1000):
            key = Keys(settings.topics.prefix).segment_members(segment)
            await redis.sadd(key, *members[start : start + 1000])
    finally:
        await redis.aclose()


async def seed_states(settings: Settings, states: dict[str, State]) -> None:
    redis = redis_client(settings)
    try:
        writes = [Write(u, 0, 1, encode(s)) for u, s in states.items()]
        assert await ProfileStore(redis, settings.topics.prefix).write(writes) == []
    finally:
        await redis.aclose()


def built(events: list[dict[str, Any]]) -> State:
    model = ProfileModel()
    state = model.initial()
    for raw in events:
        model.apply_event(state, from_dict(raw))
    model.compact(state)
    return state


def test_rules_check_prints_the_counts_or_the_error_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(RULES)
    done = portrait("rules", "check", str(good), env={})
    assert done.returncode == 0, done.stderr
    version = load_rules_file(good).version
    assert done.stdout == f"ok: 3 tags, 2 segments, version {version}\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("orders_total: {", "orders_totl: {"))
    done = portrait("rules", "check", str(bad), env={})
    assert done.returncode == 2 and done.stdout == ""
    line = RULES.splitlines().index('    where: {orders_total: {">=": 2}}') + 1
    assert done.stderr.startswith(f"portrait rules check: {bad}:{line}:")
    assert "did you mean 'orders_total'" in done.stderr
    assert len(done.stderr.splitlines()) == 1


async def test_segment_list_and_export_every_member(
    settings: Settings, rules_env: dict[str, str], tmp_path: Path
) -> None:
    ns = settings.topics.prefix
    members = [f"{ns}u{i}" for i in range(2345)]  # more than one SSCAN chunk
    await seed_members(settings, "repeat_buyers", members)
    await seed_members(settings, "big_or_vip", members[:7])
    listed = portrait("segment", "list", env=rules_env)
    assert listed.returncode == 0, listed.stderr
    docs = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [(d["name"], d["size"]) for d in docs] == [("repeat_buyers", 2345), ("big_or_vip", 7)]
    assert docs[0]["where"] == {"orders_total": {">=": 2}}
    assert docs[0]["description"] == "Two orders or more."

    out = tmp_path / "members.csv"
    done = portrait("segment", "export", "repeat_buyers", "--out", str(out), env=rules_env)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "user_id"
    assert sorted(lines[1:]) == sorted(members)  # each member exactly once
    assert "2,345 members" in done.stderr  # the progress line's last word
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # noqa: ASYNC240

    done = portrait("segment", "export", "repeat_buyer", env=rules_env)
    assert done.returncode == 1 and done.stdout == ""
    assert "unknown segment 'repeat_buyer' (did you mean 'repeat_buyers'?)" in done.stderr


async def test_segment_export_with_tags(settings: Settings, rules_env: dict[str, str]) -> None:
    ns = settings.topics.prefix
    users = [f"{ns}a", f"{ns}b", f"{ns}c"]  # c has no stored state
    await seed_members(settings, "big_or_vip", users)
    a = built([ev("purchase", users[0], T0, price=150.0, order_id="o1")])
    a.rules.manual = {"vip_manual": ["gold", T0]}  # big_spender: its rule, as profile get
    b = built([ev("view", users[1], T0, item_id="i1")])
    await seed_states(settings, {users[0]: a, users[1]: b})
    tags_asked = ["vip_manual", "big_spender", "orders_total"]
    done = portrait(
        "segment", "export", "big_or_vip", "--format", "jsonl", "--tags", ",".join(tags_asked),
        "--as-of", str(T0 + DAY), "--quiet", env=rules_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["user_id"]: r for r in map(orjson.loads, done.stdout.splitlines())}
    assert rows == {
        users[0]: {"user_id": users[0], "vip_manual": "gold", "big_spender": True,
                   "orders_total": 1},
        users[1]: {"user_id": users[1], "vip_manual": None, "big_spender": False,
                   "orders_total": 0},
        users[2]: {"user_id": users[2], "vip_manual": None, "big_spender": None,
                   "orders_total": None},
    }  # fmt: skip
    for user in users[:2]:  # the values profile get shows, as of the same moment
        shown = portrait("profile", "get", user, "--as-of", str(T0 + DAY), env=rules_env)
        tags = orjson.loads(shown.stdout)["tags"]
        assert {k: tags[k] for k in tags_asked} == {k: rows[user][k] for k in tags_asked}
    done = portrait("segment", "export", "big_or_vip", "--tags", "vip_manual", "--quiet",
                    env=rules_env)  # fmt: skip
    table = list(csv.reader(io.StringIO(done.stdout)))
    assert table[0] == ["user_id", "vip_manual"]
    assert sorted(table[1:]) == sorted([[users[0], "gold"], [users[1], ""], [users[2], ""]])
    done = portrait("segment", "export", "big_or_vip", "--tags", "vip", env=rules_env)
    assert done.returncode == 1 and "did you mean 'vip_manual'" in done.stderr


async def test_explain_prints_each_clause_with_the_users_value(
    settings: Settings, rules_env: dict[str, str]
) -> None:
    user = settings.topics.prefix + "eve"
    state = built([ev("purchase", user, T0, price=30.0, order_id="o1"),
                   ev("purchase", user, T0 + DAY, price=90.0, order_id="o2")])  # fmt: skip
    state.rules.manual = {"vip_manual": ["silver", T0]}
    await seed_states(settings, {user: state})
    done = portrait("explain", user, "repeat_buyers", "--as-of", str(T0 + 2 * DAY), env=rules_env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"segment repeat_buyers for {user} as of 2023-11-16T22:13:20")
    assert "✓ orders_total >= 2    (user: 2)" in lines
    assert lines[-1] == "=> in segment repeat_buyers"

    done = portrait("explain", user, "big_or_vip", "--as-of", str(T0 + 2 * DAY), env=rules_env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "✓ big_spender == true    (user: true)" in text  # 120 spent
    assert '✗ vip_manual == "gold"    (user: "silver")' in text
    assert text.splitlines()[-1] == "=> in segment big_or_vip"

    done = portrait("explain", user, "big_spender", env=rules_env)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "=> big_spender = true"

    done = portrait("explain", user + "x", "repeat_buyers", env=rules_env)
    assert done.returncode == 1 and "no profile for user" in done.stderr
    done = portrait("explain", user, "big_spendr", env=rules_env)
    assert done.returncode == 1 and "did you mean 'big_spender'" in done.stderr


async def keyed_events(settings: Settings, n: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        settings.topic(TOPIC_EVENTS), **kafka_options(settings), auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=settings.topics.prefix + "reader",
    )  # fmt: skip
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(out) < n:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    out.extend((r.key, r.value) for r in records)
            await asyncio.sleep(1)  # nothing more than n arrives
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return out


async def test_tag_set_produces_tag_events_once_per_run_and_audits(
    settings: Settings, rules_env: dict[str, str], tmp_path: Path
) -> None:
    ns = settings.topics.prefix
    users = [f"{ns}u{i}" for i in range(50)]
    listing = tmp_path / "users.txt"
    listing.write_text("\n".join([*users, "", users[3], f"anon:{ns}v"]) + "\n")
    args = ("tag", "set", "vip_manual", "gold", "--users", str(listing), "--actor", "ops@shop")
    done = portrait(*args, env=rules_env)  # no worker ever ran in this namespace
    assert done.returncode == 2 and done.stdout == ""
    assert f"topic {ns}events does not exist: start the worker first" in done.stderr
    await ensure_topics(settings, [settings.topic(TOPIC_EVENTS)], partitions=4)
    done = portrait(*args, "--at", "2024-06-01T00:00:00Z", env=rules_env)
    assert done.returncode == 0, done.stderr
    assert 'vip_manual="gold" for 51 users (1 duplicate, 1 blank lines ignored)' in done.stdout
    again = portrait(*args, "--at", "2024-06-01T00:00:00Z", "--quiet", env=rules_env)  # a retry
    assert again.returncode == 0, again.stderr
    records = await keyed_events(settings, 102)
    assert len(records) == 102
    decoded = [(key, decode(value)) for key, value in records]
    assert {e.type for _, e in decoded} == {"tag"}
    assert {e.user_id for _, e in decoded} == {*users, f"anon:{ns}v"}
    assert all(e.traits == {"tag": "vip_manual", "value": "gold"} for _, e in decoded)
    assert all(key == e.user_id.removeprefix("anon:").encode() for key, e in decoded)
    assert len({e.event_id for _, e in decoded}) == 51  # the retry sent the same ids

    redis = redis_client(settings)
    try:
        audit = await redis.xrange(Keys(ns).rules_audit)
    finally:
        await redis.aclose()
    assert len(audit) == 2
    entry = {k.decode(): v.decode() for k, v in audit[0][1].items()}
    assert entry["op"] == "tag_set" and entry["tag"] == "vip_manual"
    assert entry["value"] == '"gold"' and entry["users"] == "51" and entry["actor"] == "ops@shop"
    assert entry["at"].startswith("2024-06-01T00:00:00")
    import hashlib

    assert entry["file_sha256"] == hashlib.sha256(listing.read_bytes()).hexdigest()

    refused = portrait("tag", "set", "vip_manual", "bronze", "--users", str(listing), env=rules_env)
    assert refused.returncode == 2 and "takes one of" in refused.stderr
    refused = portrait("tag", "set", "big_spender", "true", "--users", str(listing), env=rules_env)
    assert refused.returncode == 2 and "is a rule tag" in refused.stderr


async def test_model_fit_writes_the_coefficients_into_the_model_block(
    settings: Settings, rules_env: dict[str, str]
) -> None:
    rng = random.Random(3)
    ns = settings.topics.prefix
    states: dict[str, State] = {}
    for i in range(240):
        user = f"{ns}m{i}"
        parent = i % 2 == 0
        events = [ev("identify", user, T0) | {"traits": {"gender": "f" if parent else "m"}}]
        for k in range(10):
            baby = rng.random() < (0.75 if parent else 0.2)
            events.append(ev("view", user, T0 + k * 1000, item_id=f"i{k}",
                             category="baby" if baby else "tools"))  # fmt: skip
        states[user] = built(events)
    for i in range(60):  # unlabelled and without views: coverage 240 / 300
        states[f"{ns}n{i}"] = built([ev("login", f"{ns}n{i}", T0)])
    await seed_states(settings, states)
    path = Path(rules_env["PORTRAIT_RULES"])
    done = portrait("model", "fit", "likes_baby", "--label", "city", env=rules_env)
    assert done.returncode == 1 and "no stored profile (of 300) has a declared city" in done.stderr
    done = portrait("model", "fit", "likes_baby", "--label", "gendre", env=rules_env)
    assert done.returncode == 1 and "did you mean 'gender'" in done.stderr
    done = portrait("model", "fit", "big_spender", "--label", "gender", env=rules_env)
    assert done.returncode == 1 and "unknown model tag 'big_spender'" in done.stderr
    done = portrait("model", "fit", "likes_baby", "--label", "gender", "--positive", "f",
                    "--as-of", str(T0 + DAY), env=rules_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "240 of 300 profiles labelled by gender (positive: 'f', 120)" in done.stdout
    assert "coverage 80.0%" in done.stdout
    accuracy = float(done.stdout.split("accuracy ")[1].split(",")[0])
    assert accuracy > 0.8
    rules = load_rules_file(path)
    model = rules.find("likes_baby").model  # type: ignore[union-attr]
    assert model is not None
    coefficients = {key: c for _, key, c in model.features}
    assert coefficients["baby"] > 0 > coefficients["tools"]
    text = path.read_text()  # noqa: ASYNC240
    assert text.startswith("# test rules (this comment must survive model fit)\n")
    assert text[text.index("segments:") :] == RULES[RULES.index("segments:") :]


async def test_a_tag_set_reaches_the_profile_through_the_worker(
    settings: Settings, rules_env: dict[str, str], tmp_path: Path
) -> None:
    from dataclasses import replace

    from streams.settings.rules import RulesSource
    from tests.integration.helpers import load_states, running_worker, wait_until

    worker_settings = replace(settings, rules_source=RulesSource(rules_env["PORTRAIT_RULES"]))
    users = [f"{settings.topics.prefix}w{i}" for i in range(5)]
    listing = tmp_path / "users.txt"
    listing.write_text("\n".join(users))
    async with running_worker(worker_settings):
        done = await asyncio.to_thread(
            portrait, "tag", "set", "vip_manual", "gold", "--users", str(listing), env=rules_env
        )
        assert done.returncode == 0, done.stderr

        async def tagged() -> bool:
            states = await load_states(settings, users)
            return len(states) == 5 and all(
                s.rules.values.get("vip_manual") == "gold" for s in states.values()
            )

        await wait_until(tagged, what="the manual tag in every profile")
    states = await load_states(settings, users)
    assert all(s.rules.manual["vip_manual"][0] == "gold" for s in states.values())
    assert all(s.totals == states[users[0]].totals for s in states.values())
    assert sum(states[users[0]].totals) == 0  # an order, not a behaviour: nothing counted
    listed = portrait("segment", "list", env=rules_env)
    sizes = {d["name"]: d["size"] for d in map(orjson.loads, listed.stdout.splitlines())}
    assert sizes["big_or_vip"] == 5  # vip_manual: gold, kept by the worker's fenced write
    from tests.integration.worker.test_segments import Changes

    async with Changes(worker_settings) as seen:
        await seen.until(lambda _: all(seen.of(u, "big_or_vip") for u in users), "the entries")
    entered = [m for u in users for m in seen.of(u, "big_or_vip")]
    assert {(m["change"], m["cause"]) for m in entered} == {("entered", "manual")}
