"""experiment_report: Tally.add / Tally.report (counts, cost, uplift, the frozen decision) and
the text table."""

from __future__ import annotations

from typing import Any

import pytest

from triggers.config import Experiment, Variant
from triggers.experiment_report import Tally, text
from triggers.experiment_stats import Arm, decision, uplift
from triggers.experiments import split

EXPERIMENT = Experiment(
    "cart_copy",
    frozenset({"cart_reminder"}),
    frozenset({"spring"}),
    0.2,
    (Variant("plain", 1, channel="push"), Variant("urgent", 1, copy="cart_urgent")),
    horizon=4,
    window_days=3,
)
PRICES = {"push": 0.01, "sms": 0.05, "email": 0.001}
AS_OF = "2024-06-10T00:00:00.000Z"
User = tuple[str | None, dict[str, int], bool | None]
# (arm, counts, outcome): None arm = erased, None outcome = the window is still open
USERS: list[User] = [
    ("holdout", {}, False),
    ("holdout", {}, True),
    ("holdout", {}, None),
    ("plain", {"sent:push": 2, "delivered": 2, "opened": 1, "clicked": 1}, True),
    ("plain", {"sent:push": 1, "sent:sms": 1, "delivered": 1}, False),
    ("plain", {}, None),  # exposed, nothing sent yet (capped)
    ("urgent", {"sent:sms": 1, "delivered": 1, "opened": 1, "clicked": 1, "converted": 1}, True),
    (None, {"sent:push": 9}, None),
    ("retired_arm", {"sent:push": 9, "delivered": 9}, True),
]


def tally_of(users: list[User]) -> Tally:
    tally = Tally(EXPERIMENT)
    for arm, counts, outcome in users:
        tally.add(arm, counts, outcome)
    return tally


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["arm"]: row for row in report["arms"]}


# arm: (users, waiting, measured, outcomes, reached, sent_by_channel, feedback by status)
EXPECTED = [
    ("holdout", 3, 1, 2, 1, 0, {}, (0, 0, 0, 0)),
    ("plain", 3, 1, 2, 1, 2, {"push": 3, "sms": 1}, (3, 1, 1, 0)),
    ("urgent", 1, 0, 1, 1, 1, {"sms": 1}, (1, 1, 1, 1)),
]


@pytest.mark.parametrize("arm,users,waiting,measured,outcomes,reached,channels,statuses", EXPECTED)
def test_counts_per_arm(
    arm: str,
    users: int,
    waiting: int,
    measured: int,
    outcomes: int,
    reached: int,
    channels: dict[str, int],
    statuses: tuple[int, int, int, int],
) -> None:
    row = rows(tally_of(USERS).report(PRICES, AS_OF))[arm]
    assert (row["users"], row["waiting"], row["measured"], row["outcomes"]) == (
        users, waiting, measured, outcomes,
    )  # fmt: skip
    assert row["reached"] == reached and row["sent_by_channel"] == channels
    assert row["sent"] == sum(channels.values())
    assert tuple(row[s] for s in ("delivered", "opened", "clicked", "converted")) == statuses
    assert row["rate"] == outcomes / measured
    assert row["share"] == split(EXPERIMENT)[arm]


def test_cost_click_rate_and_the_users_left_out() -> None:
    report = tally_of(USERS).report(PRICES, AS_OF)
    holdout, plain, urgent = (rows(report)[a] for a in ("holdout", "plain", "urgent"))
    assert plain["cost"] == pytest.approx(3 * 0.01 + 0.05) and plain["click_rate"] == 1 / 4
    assert plain["cost_per_outcome"] == pytest.approx(0.08)
    assert urgent["cost"] == pytest.approx(0.05) and urgent["click_rate"] == 1.0
    assert holdout["cost"] == 0 and holdout["click_rate"] is None
    assert holdout["cost_per_outcome"] == 0.0  # an outcome at no cost
    assert (report["erased"], report["retired"]) == (1, 1)
    assert report["experiment"] == "cart_copy" and report["as_of"] == AS_OF
    assert (report["kinds"], report["campaigns"]) == (["cart_reminder"], ["spring"])
    assert report["interval"] == pytest.approx(1 - 0.05 / 2)


def test_uplift_is_given_for_variants_only() -> None:
    by_arm = rows(tally_of(USERS).report(PRICES, AS_OF))
    assert "uplift" not in by_arm["holdout"]
    holdout = Arm("holdout", 2, 1)  # measured and outcomes counted by hand from USERS
    for name, mine in (("plain", Arm("plain", 2, 1)), ("urgent", Arm("urgent", 1, 1))):
        u = uplift(mine, holdout, 0.05 / 2)
        assert by_arm[name]["uplift"] == {"diff": u.diff, "low": u.low, "high": u.high,
                                          "relative": u.relative, "p": u.p}  # fmt: skip


def first_four() -> list[User]:
    """The horizon's users: the variants convert every time, the holdout never; waiting users
    in between are not among the first measured."""
    users: list[User] = []
    for _ in range(4):
        users += [("holdout", {}, False), ("plain", {}, True), ("urgent", {}, True),
                  ("plain", {}, None)]  # fmt: skip
    return users


def test_the_decision_is_frozen_on_the_first_horizon_users() -> None:
    before = tally_of(first_four()[:-4]).report(PRICES, AS_OF)["decision"]
    assert before["verdict"] == "keep_running" and before["horizon"] == 4

    at_horizon = tally_of(first_four()).report(PRICES, AS_OF)["decision"]
    frozen = decision([Arm("plain", 4, 4), Arm("urgent", 4, 4)], Arm("holdout", 4, 0), EXPERIMENT)
    assert at_horizon["verdict"] == frozen.verdict == "ship" and at_horizon["text"] == frozen.text

    later: list[User] = [("holdout", {}, True), ("plain", {}, False), ("urgent", {}, False)] * 40
    report = tally_of(first_four() + later).report(PRICES, AS_OF)
    assert report["decision"] == at_horizon  # the later users move nothing
    on_everyone = decision(
        [Arm("plain", 44, 4), Arm("urgent", 44, 4)], Arm("holdout", 44, 40), EXPERIMENT
    )
    assert on_everyone.verdict == "stop_harmful"  # what peeking at every user would say
    assert rows(report)["plain"]["uplift"]["diff"] == pytest.approx(4 / 44 - 40 / 44)


def test_text() -> None:
    report = tally_of(USERS).report(PRICES, AS_OF)
    lines = text(report).splitlines()
    assert lines[0] == (
        "experiment cart_copy (cart_reminder, spring): converted within 3 days of exposure, "
        f"as of {AS_OF}"
    )
    assert lines[1].split()[:5] == ["arm", "users", "waiting", "measured", "converted"]
    body = {line.split()[0]: line.split() for line in lines[2:5]}
    assert list(body) == ["holdout", "plain", "urgent"]
    assert body["holdout"][1:6] == ["3", "1", "2", "1", "50.00"]
    assert "(baseline)" in lines[2] and "(baseline)" not in lines[3]
    diff = 100 * report["arms"][2]["uplift"]["diff"]
    assert f"{diff:+.2f} pts" in lines[4] and "0.05" in lines[4]  # urgent: its sms cost
    assert lines[5] == "left out: 1 in retired arms, 1 erased"
    assert lines[6].startswith(f"decision ({report['decision']['verdict']}): ")
    assert len(lines) == 7


def test_later_users_do_not_move_a_decision_taken_at_a_derived_horizon() -> None:
    derived = Experiment("cart_copy", frozenset({"cart_reminder"}), frozenset(), 0.2,
                         (Variant("plain", 1),), mde=0.3)  # fmt: skip
    tally = Tally(derived)
    for _ in range(27):  # sample_size at the prior rate 0.05 for mde 0.3: 27 users per arm
        tally.add("holdout", {}, False)
        tally.add("plain", {}, True)
    taken = tally.report(PRICES, AS_OF)["decision"]
    assert (taken["verdict"], taken["horizon"]) == ("ship", 27)
    for _ in range(1000):  # later users, after the decision could be taken
        tally.add("holdout", {}, True)
        tally.add("plain", {}, False)
    assert tally.report(PRICES, AS_OF)["decision"]["verdict"] == "ship"
