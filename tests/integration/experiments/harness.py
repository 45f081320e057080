"""One stack for many experiment runs: the event worker, the feedback service and a simulated
provider (streams/sim/responder.py) on one broker and Redis, with a scheduler per run.

Each run (:meth:`Lab.run`) is an experiment of its own on cart reminders (its own name, so its
own random assignment) over users of its own, a day after the previous run on the injected
clock (runs overlap in time, never in users): every user adds to the cart, the scheduler sends
the reminders due 30 minutes later in each user's arm, the provider answers with the known
probabilities, some users buy on their own after the exposure, and the report is read once
every window has closed. The oracle of a run shares no code with the report: the arms come from
the published messages (a user exposed and sent nothing is in the holdout), the buyers from what
the run produced. Used by tests/integration/experiments and by bench/experiments.py (many
seeded repetitions).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from streams.connect.clients import redis_client
from streams.experiments.report import read_report
from streams.feedback.service import run_feedback
from streams.settings.tree import Settings
from streams.settings.triggers import trigger_config
from streams.sim.responder import Provider, Responses, replies
from tests.integration.helpers import ev, metric, produce, wait_until
from tests.integration.triggers.trigger_helpers import Clock, at, clocked_scheduler, clocked_worker

NOON = at("2025-01-07T12:00:00")  # run k starts k days later: 300 runs stay in the past
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
STATUSES = ("delivered", "opened", "clicked", "converted")
OTHER_KINDS = ("win_back", "repeated_search", "first_purchase", "high_value_welcome")


RESPONSES = Responses(
    convert_by_channel={"push": 0.15}, convert_by_copy={"urgent": 0.4}, delivered=0.9
)


@dataclass(frozen=True)
class Design:
    """What a run simulates: its users, their own buying, the provider's answers, the arms."""

    users: int = 400
    organic: float = 0.1  # buys on their own after the exposure, whatever the arm
    responses: Responses = field(default_factory=lambda: RESPONSES)
    holdout: float = 0.3
    variants: tuple[dict[str, Any], ...] = (
        {"name": "plain", "weight": 1},
        {"name": "urgent", "weight": 1, "copy": "urgent", "channel": "sms"},
    )

    def experiment(self, name: str) -> dict[str, Any]:
        return {"name": name, "kinds": ["cart_reminder"], "holdout": self.holdout,
                "window_days": 1, "variants": [dict(v) for v in self.variants]}  # fmt: skip

    def truth(self, variant: str) -> float:
        """The arm's true rate minus the holdout's."""
        v = next(v for v in self.variants if v["name"] == variant)
        r = self.responses
        convert = r.convert_by_copy.get(v.get("copy", ""), r.convert_by_channel.get(
            v.get("channel", "push"), 0.0))  # fmt: skip
        return 1 - (1 - self.organic) * (1 - r.delivered * convert) - self.organic


@dataclass
class Run:
    name: str
    report: dict[str, Any]
    oracle: dict[str, dict[str, Any]]
    messages: list[dict[str, Any]]
    truth: dict[str, float]

    def covered(self) -> dict[str, bool]:
        """Per variant: whether its interval holds the true uplift."""
        rows = {r["arm"]: r for r in self.report["arms"]}
        return {a: rows[a]["uplift"]["low"] <= t <= rows[a]["uplift"]["high"]
                for a, t in self.truth.items()}  # fmt: skip

    def arms(self) -> dict[str, dict[str, Any]]:
        return {r["arm"]: r for r in self.report["arms"]}


class Lab:
    def __init__(self, settings: Settings, namespace: str) -> None:
        raw = {"policy": {"quiet_hours": None}, **{k: {"enabled": False} for k in OTHER_KINDS}}
        self.settings = dataclasses.replace(settings, triggers=trigger_config(raw))
        self.namespace = namespace
        self.clock = Clock(NOON)
        self.registry = CollectorRegistry()  # the worker's and the schedulers'
        self.feedback = CollectorRegistry()
        self.applied = 0  # events the worker has applied so far
        self.runs = 0

    @contextlib.asynccontextmanager
    async def running(self, design: Design, seed: int) -> AsyncIterator[Lab]:
        stop = asyncio.Event()
        service = asyncio.ensure_future(run_feedback(
            self.settings, self.settings.triggers, registry=self.feedback, stop=stop,
            clock=self.clock))  # fmt: skip
        responses = dataclasses.replace(design.responses, seed=seed)
        try:
            async with (
                clocked_worker(self.settings, self.clock, self.registry),
                Provider(self.settings, responses) as self.provider,
            ):
                yield self
        finally:
            stop.set()
            await asyncio.wait_for(service, 30)

    async def run(self, design: Design, seed: int) -> Run:
        """One experiment; the lab must be :meth:`running` with the same design."""
        k, self.runs = self.runs, self.runs + 1
        name, t0 = f"exp{k}_{seed}", NOON + k * DAY
        # keys and topics carry the namespace: ids without it make every run the same draw
        users = [f"r{k}u{i:04d}" for i in range(design.users)]
        rng = random.Random(seed)
        organic = sorted(u for u in users if rng.random() < design.organic)
        self.clock.now = t0
        await produce(self.settings, [ev("add_to_cart", u, t0, item_id="i1", price=20.0)
                                      for u in users])  # fmt: skip
        await self._applied(len(users))
        settings = dataclasses.replace(self.settings, triggers=dataclasses.replace(
            self.settings.triggers, experiments=trigger_config(
                {"experiments": [design.experiment(name)]}).experiments))  # fmt: skip
        async with clocked_scheduler(settings, self.clock, self.registry) as scheduler:
            self.clock.now = t0 + 30 * MIN
            while await scheduler.run_once():
                pass
        sent = self._count(name, design, "sent")
        messages = await self.provider.answer(sent)
        assert len(messages) == sent, (len(messages), sent)
        answers = [replies(m, self.provider.responses) for m in messages]
        await produce(self.settings, [ev("purchase", u, t0 + 5 * HOUR, order_id=f"own-{u}",
                                         price=9.0) for u in organic])  # fmt: skip
        await self._applied(len(organic) + sum(1 for _, p in answers if p is not None))
        statuses = sum(len(f) for f, _ in answers)
        await wait_until(lambda: self._feedback(name, design, statuses), what="feedback")
        async with redis_client(self.settings) as redis:
            report = await read_report(redis, self.namespace, settings.triggers.experiments[0],
                                       dict(settings.triggers.cost), t0 + 3 * DAY)  # fmt: skip
        bought = set(organic) | {m["user_id"] for m, (_, p) in zip(messages, answers, strict=True)
                                 if p is not None}  # fmt: skip
        oracle = _oracle(users, messages, answers, bought, settings.triggers.cost)
        truth = {str(v["name"]): design.truth(str(v["name"])) for v in design.variants}
        return Run(name, report, oracle, messages, truth)

    async def _applied(self, more: int) -> None:
        self.applied += more

        async def done() -> bool:
            applied = sum(
                metric(self.registry, "portrait_events_total", type=t, outcome="applied")
                for t in ("add_to_cart", "purchase")
            )
            return applied >= self.applied

        await wait_until(done, what=f"{self.applied} events applied")

    def _count(self, name: str, design: Design, event: str) -> int:
        series = "portrait_experiment_events_total"
        return int(sum(metric(self.registry, series, experiment=name, arm=str(v["name"]),
                              event=event) for v in design.variants))  # fmt: skip

    async def _feedback(self, name: str, design: Design, statuses: int) -> bool:
        counted = sum(
            metric(self.feedback, "portrait_experiment_feedback_total", experiment=name,
                   arm=str(v["name"]), status=s)
            for v in design.variants for s in STATUSES
        )  # fmt: skip
        return counted == statuses


def _oracle(
    users: list[str],
    messages: list[dict[str, Any]],
    answers: list[tuple[list[dict[str, Any]], dict[str, Any] | None]],
    bought: set[str],
    prices: Any,
) -> dict[str, dict[str, Any]]:
    arm_of = {m["user_id"]: m["variant"] for m in messages}
    out: dict[str, dict[str, Any]] = {}
    for arm in sorted({"holdout", *arm_of.values()}):
        members = [u for u in users if arm_of.get(u, "holdout") == arm]
        sent = [(m, f) for m, (f, _) in zip(messages, answers, strict=True) if m["variant"] == arm]
        status = Counter(x["status"] for _, f in sent for x in f)
        out[arm] = {
            "users": len(members), "measured": len(members), "waiting": 0,
            "outcomes": sum(u in bought for u in members), "sent": len(sent),
            "reached": len({m["user_id"] for m, _ in sent}),
            "sent_by_channel": dict(sorted(Counter(m["channel"] for m, _ in sent).items())),
            **{s: status[s] for s in STATUSES},
            "cost": round(sum(prices.get(m["channel"], 0.0) for m, _ in sent), 6),
        }  # fmt: skip
    return out
