"""Recall accounting against a real Redis, checked against an oracle (docs/recall.md).

A seeded scenario sends recall messages (win-backs, a recall campaign) and other messages on
three channels, has a delivery service report deliveries (some overtaking the sent message,
some twice) and clicks, brings users back at random times through the real recall tracker, and
writes their profiles with the days they were active afterwards. The report read from Redis
(streams/feedback/recall_report.py, and ``portrait recall report``) must equal what the oracle
below computes from the scenario alone, with the rules of docs/recall.md written out again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from profiles.events import from_dict
from profiles.model import ProfileModel
from streams.feedback.recall import RecallTracker
from streams.feedback.recall_report import read_recall_report
from streams.feedback.service import run_feedback
from streams.names import TOPIC_FEEDBACK, Keys
from streams.settings.tree import Settings
from streams.store.feedback import FeedbackStore, forget_recall_ledger
from streams.store.profiles import ProfileStore, Write
from streams.store.triggers import SentRecord
from tests.integration.api.live import live_api
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.feedback.test_feedback import produce
from tests.integration.helpers import DAY, T0, ev, metric, wait_until
from triggers.config import RecallConfig, TriggerConfig
from triggers.feedback import Feedback, Sent
from triggers.model import Trigger, message

pytestmark = pytest.mark.integration
RECALL = RecallConfig(campaigns=("winback-*",))
CONFIG = TriggerConfig(recall=RECALL)
PRICES = dict(CONFIG.cost)
WINDOW = CONFIG.recall_window_ms
SINCE, UNTIL = T0, T0 + 6 * DAY
KINDS = [("win_back", None), ("campaign", "winback-spring"), ("campaign", "spring-sale"),
         ("cart_reminder", None)]  # fmt: skip
FOLLOW_DAYS, LOST_DAYS = 30, 14


@dataclass
class Msg:
    tid: str
    user: str
    kind: str
    campaign: str | None
    channel: str
    sent: int
    delivered: int = 0
    clicked: bool = False
    recalled: int = 0  # set by the oracle

    @property
    def recall(self) -> bool:
        return self.kind == "win_back" or (self.campaign or "").startswith("winback-")


@dataclass
class User:
    uid: str
    msgs: list[Msg] = field(default_factory=list)
    visits: list[int] = field(default_factory=list)
    active_days: set[int] = field(default_factory=set)  # days of events written to the profile
    overtaken: bool = False  # feedback counted before the sent message was registered


def scenario(seed: int, prefix: str, n: int = 70) -> list[User]:
    rng = random.Random(seed)
    users = []
    for i in range(n):
        u = User(f"{prefix}u{i}", overtaken=rng.random() < 0.4)
        for j in range(rng.randint(1, 3)):
            kind, campaign = rng.choice(KINDS)
            sent = T0 + rng.randrange(-DAY, 6 * DAY)
            m = Msg(f"t{j}-{i}", u.uid, kind, campaign, rng.choice(("push", "sms", "email")), sent)
            if rng.random() < 0.7:
                m.delivered = sent + rng.randrange(1_000, 600_000)
                m.clicked = rng.random() < 0.3
            u.msgs.append(m)
        visits = [T0 + rng.randrange(0, 8 * DAY) for _ in range(rng.randint(0, 1))]
        visits += [
            rng.choice(u.msgs).sent + rng.randrange(0, 2 * DAY) for _ in range(rng.randint(0, 2))
        ]
        u.visits = sorted(v for v in visits if v >= T0)
        if u.visits:
            last = u.visits[-1] // DAY
            u.active_days = {v // DAY for v in u.visits}
            u.active_days |= {last + d for d in rng.sample(range(1, 31), rng.randint(0, 3))}
        users.append(u)
    return users


def oracle_recalls(users: list[User]) -> None:
    """Each pending recall message whose [delivered else sent, + window] holds a visit turns
    recalled at the first such visit."""
    for u in users:
        for ts in u.visits:
            for m in u.msgs:
                start = m.delivered or m.sent
                if m.recall and not m.recalled and start <= ts <= start + WINDOW:
                    m.recalled = ts


def oracle(users: list[User], as_of: int) -> dict[str, Any]:
    rows: dict[str, dict[str, dict[str, Any]]] = {"channels": {}, "campaigns": {}}
    overall = {"sent": 0, "clicked": 0, "users": set(), "recalled": set(), "cost": 0.0,
               "judged": 0, "lost": 0}  # fmt: skip

    def row(section: str, name: str) -> dict[str, Any]:
        return rows[section].setdefault(name, {
            "sent": 0, "delivered": 0, "clicked": 0, "users": set(), "recalled": set(),
            "last": 0, "cost": 0.0, "judged": 0, "lost": 0})  # fmt: skip

    for u in users:
        mine = [m for m in u.msgs if m.recall and SINCE <= m.sent < UNTIL]
        for m in mine:
            for section, name in (("channels", m.channel), ("campaigns", m.campaign or m.kind)):
                r = row(section, name)
                r["sent"] += 1
                r["delivered"] += bool(m.delivered)
                r["clicked"] += m.clicked
                r["users"].add(u.uid)
                r["cost"] += PRICES[m.channel]
                if m.recalled:
                    r["recalled"].add(u.uid)
            overall["sent"] += 1
            overall["clicked"] += m.clicked
            overall["users"].add(u.uid)
            overall["cost"] += PRICES[m.channel]
        back = [m for m in mine if m.recalled]
        if not back:
            continue
        latest = max(m.recalled for m in back)
        touch = sorted((m for m in back if m.recalled == latest),
                       key=lambda m: (m.delivered or m.sent, m.tid))[-1]  # fmt: skip
        overall["recalled"].add(u.uid)
        row("channels", touch.channel)["last"] += 1
        row("campaigns", touch.campaign or touch.kind)["last"] += 1
        day = latest // DAY
        if (day + FOLLOW_DAYS + 1) * DAY > as_of:
            continue
        lost = not any(
            day + FOLLOW_DAYS - LOST_DAYS < d <= day + FOLLOW_DAYS for d in u.active_days
        )
        overall["judged"] += 1
        overall["lost"] += lost
        for section in rows.values():
            for r in section.values():
                if u.uid in r["recalled"]:
                    r["judged"] += 1
                    r["lost"] += lost
    return {"rows": rows, "overall": overall}


async def play(redis: Redis, settings: Settings, users: list[User]) -> None:
    """The scenario through the real store, tracker and profile store."""
    ns = settings.topics.prefix
    keys = Keys(ns)
    store = FeedbackStore(redis, ns, recall_window_ms=WINDOW, seen_ttl_ms=60 * DAY, recall=RECALL)
    for u in users:
        for m in u.msgs:
            await redis.hset(
                keys.sent(u.uid), m.tid, SentRecord(m.channel, m.kind, m.sent).encode()
            )
    sent = [
        Sent(m.tid, m.kind, m.channel, m.user, m.sent, m.campaign) for u in users for m in u.msgs
    ]
    feedback = []
    for u in users:
        for m in u.msgs:
            if m.delivered:
                feedback += [Feedback(m.tid, u.uid, "delivered", m.delivered)] * 2  # redelivered
            if m.clicked:
                feedback.append(Feedback(m.tid, u.uid, "clicked", m.delivered + 5_000))
    early = {u.uid for u in users if u.overtaken}
    await store.count([f for f in feedback if f.user_id in early])
    await store.register(sent)
    await store.count([f for f in feedback if f.user_id not in early])
    tracker = RecallTracker(redis, CONFIG, ns)
    await tracker.refresh(T0)
    for ts, uid in sorted((ts, u.uid) for u in users for ts in u.visits):
        await tracker.returned([(uid, ts)])
    model, writes = ProfileModel(settings.model), []
    for u in users:
        state = model.initial()
        for offset, day in enumerate(sorted(u.active_days)):
            event = from_dict(ev("view", u.uid, day * DAY + 12 * 3_600_000))
            model.apply_event(state, event, 0, offset)
        if u.active_days:
            writes.append(Write(u.uid, 0, 0, model.encode(state)))
    if isinstance(
        redis, RedisCluster
    ):  # the fenced write spans slots: plain SETs (docs/cluster.md)
        for w in writes:
            await redis.set(Keys(ns).profile(w.user_id), w.state)
    else:
        assert await ProfileStore(redis, ns).write(writes) == []


def check(report: dict[str, Any], expected: dict[str, Any]) -> None:
    for section, rows in expected["rows"].items():
        assert set(report[section]) == set(rows), section
        for name, r in rows.items():
            got = report[section][name]
            assert (got["sent"], got["delivered"], got["clicked"]) == (
                r["sent"], r["delivered"], r["clicked"]), (section, name)  # fmt: skip
            assert (got["users"], got["recalled"], got["recalled_last_touch"]) == (
                len(r["users"]), len(r["recalled"]), r["last"]), (section, name)  # fmt: skip
            assert got["cost"] == pytest.approx(r["cost"])
            assert (got["rechurn_judged"], got["rechurn_lost"]) == (r["judged"], r["lost"])
    o, want = report["overall"], expected["overall"]
    assert (o["sent"], o["clicked"], o["users"]) == (
        want["sent"],
        want["clicked"],
        len(want["users"]),
    )
    assert o["recalled"] == len(want["recalled"]) == o["recalled_last_touch_sum"]
    assert o["recalled_sum_over_channels"] == sum(
        len(r["recalled"]) for r in expected["rows"]["channels"].values()
    )
    assert o["cost"] == pytest.approx(want["cost"])
    assert (o["rechurn_judged"], o["rechurn_lost"]) == (want["judged"], want["lost"])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_report_equals_the_oracle(
    redis: Redis, settings: Settings, namespace: str, seed: int
) -> None:
    users = scenario(seed, namespace)
    await play(redis, settings, users)
    oracle_recalls(users)
    recalled = sum(bool(m.recalled) for u in users for m in u.msgs)
    assert recalled >= 10, "the scenario must recall someone"
    for as_of in (T0 + 35 * DAY, T0 + 45 * DAY):  # some judged yet, then all
        expected = oracle(users, as_of)
        report = await read_recall_report(
            redis, settings.topics.prefix, RECALL, PRICES, (SINCE, UNTIL), as_of, chunk=7
        )
        check(report, expected)
        assert report["missing"] == 0
    assert 0 < report["overall"]["rechurn_lost"] < report["overall"]["rechurn_judged"]
    multi = report["overall"]["recalled_sum_over_channels"] - report["overall"]["recalled"]
    assert multi >= 0


async def test_the_command_prints_the_same_report(
    redis: Redis, settings: Settings, namespace: str, tmp_path: Any
) -> None:
    users = scenario(7, namespace, n=30)
    await play(redis, settings, users)
    oracle_recalls(users)
    config = tmp_path / "portrait.yaml"
    prefix = settings.topics.prefix
    config.write_text(
        f"topics: {{prefix: '{prefix}'}}\ntriggers: {{recall: {{campaigns: ['winback-*']}}}}\n",
        encoding="utf-8",
    )
    env = {**service_env(settings), "PORTRAIT_CONFIG": str(config)}
    span = ["--since", str(SINCE), "--until", str(UNTIL), "--as-of", str(T0 + 45 * DAY)]
    done = portrait("recall", "report", *span, "--json", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    check(orjson.loads(done.stdout), oracle(users, T0 + 45 * DAY))
    shown = portrait("recall", "report", *span, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "by channel" in shown.stdout and "by campaign" in shown.stdout
    assert "equal to the distinct count" in shown.stdout
    assert "winback-spring" in shown.stdout and "spring-sale" not in shown.stdout
    bad = portrait("recall", "report", "--since", str(UNTIL), "--until", str(SINCE), env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--since" in bad.stderr


async def test_erasure_takes_the_users_messages_out_of_the_ledger(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    users = scenario(11, namespace, n=12)
    await play(redis, settings, users)
    keys = Keys(settings.topics.prefix)
    gone = next(u for u in users if any(m.recall for m in u.msgs))
    before = await redis.zcard(keys.recall_ledger)
    removed = await forget_recall_ledger(redis, keys, gone.uid)
    assert removed == sum(m.recall for m in gone.msgs) > 0
    assert await redis.zcard(keys.recall_ledger) == before - removed
    members = [m.decode() for m in await redis.zrange(keys.recall_ledger, 0, -1)]
    assert not [m for m in members if m.endswith("|" + gone.uid)]


async def test_the_ledger_keeps_the_retention(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    ns = settings.topics.prefix
    store = FeedbackStore(redis, ns, recall_window_ms=WINDOW, seen_ttl_ms=DAY, recall=RECALL)
    old, new = namespace + "old", namespace + "new"
    await store.register([Sent("wb-1", "win_back", "push", old, T0),
                          Sent("wb-2", "win_back", "push", new, T0 + 10 * DAY)])  # fmt: skip
    assert await store.trim_ledger(T0 + RECALL.retention_ms) == 0, "kept to the day"
    assert await store.trim_ledger(T0 + RECALL.retention_ms + 1) == 1
    left = [m.decode() for m in await redis.zrange(Keys(ns).recall_ledger, 0, -1)]
    assert left == [f"wb-2|{new}"]


async def test_the_api_answers_the_same_report(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    users = scenario(5, namespace, n=30)
    await play(redis, settings, users)
    oracle_recalls(users)
    served = dataclasses.replace(
        settings, triggers=dataclasses.replace(settings.triggers, recall=RECALL)
    )
    params = {"since": str(SINCE), "until": str(UNTIL), "as_of": str(T0 + 45 * DAY)}
    async with (
        live_api(served) as api,
        httpx.AsyncClient(base_url=api.url, headers=api.auth("read"), timeout=30) as http,
    ):
        answer = await http.get("/v1/recall", params=params)
        assert answer.status_code == 200, answer.text
        check(answer.json(), oracle(users, T0 + 45 * DAY))
        bad = await http.get("/v1/recall", params={**params, "since": "yesterday"})
        assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("since:")
        backwards = await http.get("/v1/recall", params={"since": str(UNTIL), "until": str(SINCE)})
        assert backwards.status_code == 400
        long = await http.get("/v1/recall", params={"since": str(T0 - 200 * DAY)})
        assert long.status_code == 400 and "portrait recall report" in long.text


async def test_a_gone_or_unreadable_record_is_counted_apart(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    ns = settings.topics.prefix
    store = FeedbackStore(redis, ns, recall_window_ms=WINDOW, seen_ttl_ms=DAY, recall=RECALL)
    a, b, c = (namespace + name for name in "abc")
    await store.register([Sent(f"wb-{u}", "win_back", "sms", u, T0 + 1) for u in (a, b, c)])
    await redis.delete(Keys(ns).recall(a))  # expired
    await redis.hset(Keys(ns).recall(b), "wb-" + b, "win_back|sms|soon|0|0|p")  # corrupt
    report = await read_recall_report(redis, ns, RECALL, PRICES, (SINCE, UNTIL), T0 + DAY)
    assert report["missing"] == 2, report
    assert report["overall"]["sent"] == 1 and report["channels"]["sms"]["users"] == 1


async def test_the_feedback_service_lists_a_recall_campaigns_messages(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    """Through the real broker: a campaign's message on its topic, matched by the pattern, is
    registered with its campaign id and listed in the ledger; another campaign's is not."""
    ns = settings.topics.prefix
    back, sale = namespace + "back", namespace + "sale"

    def made(user: str, campaign: str) -> Trigger:
        tid = f"campaign-{user}"
        return Trigger(tid, "campaign", user, T0, T0, T0 + DAY, 50, ("push",), campaign_id=campaign)

    for user in (back, sale):
        await redis.hset(
            Keys(ns).sent(user), f"campaign-{user}", SentRecord("push", "campaign", T0).encode()
        )
    registry, stop = CollectorRegistry(), asyncio.Event()
    task = asyncio.ensure_future(
        run_feedback(settings, CONFIG, registry=registry, stop=stop, clock=lambda: T0 + DAY)
    )
    try:
        messages = [
            message(made(back, "winback-may"), "push", T0),
            message(made(sale, "may-sale"), "push", T0),
        ]
        await produce(settings, CONFIG.topics["push"], messages)
        await produce(
            settings,
            TOPIC_FEEDBACK,
            [
                {
                    "trigger_id": f"campaign-{back}",
                    "user_id": back,
                    "status": "clicked",
                    "at": T0 + 9,
                }
            ],
        )

        async def clicked() -> bool:
            raw = await redis.hget(Keys(ns).recall(back), f"campaign-{back}")
            return raw is not None and raw.decode().split("|")[7] == "1"

        await wait_until(clicked, what="the campaign's click in its recall record")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    members = [m.decode() for m in await redis.zrange(Keys(ns).recall_ledger, 0, -1)]
    assert members == [f"campaign-{back}|{back}"]
    listed = metric(registry, "portrait_recall_messages_total", kind="campaign", channel="push")
    assert listed == 1, "the message and its click list it once"
    record = (await redis.hget(Keys(ns).recall(back), f"campaign-{back}")).decode().split("|")
    assert (record[0], record[1], record[8]) == ("campaign", "push", "winback-may")
    assert await redis.hgetall(Keys(ns).recall(sale)) == {}


async def test_each_recall_message_is_listed_once_whatever_comes_first(
    redis: Redis, settings: Settings, namespace: str
) -> None:
    ns = settings.topics.prefix
    store = FeedbackStore(redis, ns, recall_window_ms=WINDOW, seen_ttl_ms=DAY, recall=RECALL)
    first, late = namespace + "first", namespace + "late"
    for user in (first, late):
        await redis.hset(
            Keys(ns).sent(user), f"wb-{user}", SentRecord("sms", "win_back", T0).encode()
        )
    sent = [Sent(f"wb-{u}", "win_back", "sms", u, T0) for u in (first, late)]
    registered = await store.register(sent[:1])
    assert (registered.pending, registered.listed) == (1, [("win_back", "sms")])
    assert (await store.register(sent[:1])).listed == [], "a redelivered message is listed once"
    twice = [Feedback(f"wb-{late}", late, "delivered", T0 + 5)] * 2
    counted = await store.count([*twice, Feedback(f"wb-{first}", first, "delivered", T0 + 5)])
    assert [c.listed for c in counted] == [True, False, False]
    assert (await store.register(sent[1:])).listed == [], "its delivery listed it first"
    assert await redis.zcard(Keys(ns).recall_ledger) == 2
