"""triggers/recall_report.py: the recall record's decoding, last-touch attribution, the re-churn
judgement, RecallTally's figures per channel / campaign / overall, and the text tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggers.config import DAY_MS, RecallConfig
from triggers.recall_report import (
    ATTRIBUTION,
    RecallMessage,
    RecallTally,
    follow_up_end,
    last_touch,
    lost_again,
    text,
)

PRICES: dict[str, float] = {"push": 0.0, "sms": 0.05, "email": 0.001}
FIGURES = (
    "sent", "delivered", "clicked", "click_rate", "users", "recalled", "recall_share",
    "recalled_last_touch", "cost", "cost_per_recalled", "rechurn_judged", "rechurn_lost",
    "rechurn_share",
)  # fmt: skip


def msg(
    trigger_id: str,
    channel: str = "push",
    *,
    user_id: str = "u1",
    kind: str = "win_back",
    sent: int = 1_000,
    delivered: int = 0,
    recalled: int = 0,
    clicked: bool = False,
    campaign: str = "",
) -> RecallMessage:
    return RecallMessage(
        trigger_id, user_id, kind, channel, sent, delivered, recalled, clicked, campaign
    )


# --- RecallMessage.decode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        pytest.param(
            "campaign|sms|1000|1100|86401100|r|5000|1|winback-spring",
            msg("t1", "sms", kind="campaign", sent=1000, delivered=1100, recalled=5000,
                clicked=True, campaign="winback-spring"),
            id="full record, recalled and clicked",
        ),
        pytest.param(
            "win_back|push|1000|0|86401000|p|0|0|",
            msg("t1", "push", sent=1000),
            id="full record, pending",
        ),
        pytest.param(
            "win_back|email|1000|1200|86401200|p|0|1|",
            msg("t1", "email", sent=1000, delivered=1200, clicked=True),
            id="full record, delivered and clicked, pending",
        ),
        pytest.param(
            "win_back|push|1000|1200|86401200|p|7000|0|",
            msg("t1", "push", sent=1000, delivered=1200),
            id="a recalled time without state r does not recall",
        ),
        pytest.param(
            "win_back|push|1000|1200|86401200|r|0|0|",
            msg("t1", "push", sent=1000, delivered=1200, recalled=1200),
            id="full record, state r, recalled 0: falls back to delivered",
        ),
        pytest.param(
            "win_back|push|1000|1200|86401200|r||0|",
            msg("t1", "push", sent=1000, delivered=1200, recalled=1200),
            id="full record, state r, recalled empty: falls back to delivered",
        ),
        pytest.param(
            "win_back|push|100|0|200|p",
            msg("t1", "push", sent=100),
            id="old 6-field record, pending",
        ),
        pytest.param(
            "win_back|push|100|150|200|r",
            msg("t1", "push", sent=100, delivered=150, recalled=150),
            id="old 6-field record, recalled: delivered time",
        ),
        pytest.param(
            "win_back|sms|100|0|200|r",
            msg("t1", "sms", sent=100, recalled=100),
            id="old 6-field record, recalled, never delivered: sent time",
        ),
        pytest.param(
            "campaign|push|100|0|200|p|0|1",
            msg("t1", "push", kind="campaign", sent=100, clicked=True),
            id="8 fields: campaign empty",
        ),
    ],
)  # fmt: skip
def test_decode(raw: str, expected: RecallMessage) -> None:
    assert RecallMessage.decode("t1", "u1", raw) == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        pytest.param("win_back|push|100|0|200", msg("t1", "push", sent=100), id="5 fields"),
        pytest.param("win_back", msg("t1", "", sent=0), id="one field"),
    ],
)  # fmt: skip
def test_a_short_record_decodes_with_blanks(raw: str, expected: RecallMessage) -> None:
    assert RecallMessage.decode("t1", "u1", raw) == expected


def test_a_record_with_words_for_numbers_is_refused_with_value_error() -> None:
    with pytest.raises(ValueError):
        RecallMessage.decode("t1", "u1", "win_back|push|soon|0|200|p")


def test_decode_keeps_the_ids() -> None:
    m = RecallMessage.decode("win_back-9f", "u42", "win_back|push|100|0|200|p")
    assert (m.trigger_id, m.user_id) == ("win_back-9f", "u42")


@pytest.mark.parametrize(
    "message,campaign",
    [
        pytest.param(msg("t", kind="campaign", campaign="winback-spring"), "winback-spring",
                     id="campaign id"),
        pytest.param(msg("t", kind="win_back"), "win_back", id="no campaign id: the kind"),
        pytest.param(msg("t", kind="win_back", campaign="x"), "x", id="id over kind"),
    ],
)  # fmt: skip
def test_campaign(message: RecallMessage, campaign: str) -> None:
    assert message.campaign == campaign


@pytest.mark.parametrize(
    "message,touch",
    [
        pytest.param(msg("t", sent=100, delivered=250), 250, id="delivered"),
        pytest.param(msg("t", sent=100), 100, id="not delivered: sent"),
        pytest.param(msg("t", sent=100, delivered=90), 90, id="delivered even if before sent"),
    ],
)
def test_touch_ms(message: RecallMessage, touch: int) -> None:
    assert message.touch_ms == touch


# --- last_touch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages,winner",
    [
        pytest.param([], None, id="no messages"),
        pytest.param([msg("a"), msg("b", "sms", delivered=5000)], None, id="none recalled"),
        pytest.param([msg("a", delivered=9000), msg("b", "sms", recalled=5000)], "b",
                     id="the only recalling message, though another was touched later"),
        pytest.param([msg("a", delivered=4000, recalled=9000),
                      msg("b", "sms", delivered=8000, recalled=5000)], "a",
                     id="latest return wins over latest touch"),
        pytest.param([msg("a", delivered=3000, recalled=5000),
                      msg("b", "sms", delivered=3500, recalled=5000)], "b",
                     id="same return: latest delivered"),
        pytest.param([msg("a", sent=3000, delivered=3100, recalled=5000),
                      msg("b", "sms", sent=3200, recalled=5000)], "b",
                     id="same return: sent counts when not delivered"),
        pytest.param([msg("a", sent=3000, delivered=3500, recalled=5000),
                      msg("b", "sms", sent=3200, recalled=5000)], "a",
                     id="same return: delivered beats a later send"),
        pytest.param([msg("t-b", delivered=3000, recalled=5000),
                      msg("t-a", "sms", delivered=3000, recalled=5000)], "t-b",
                     id="full tie: greater trigger id"),
        pytest.param([msg("t-a", delivered=3000, recalled=5000),
                      msg("t-b", "sms", delivered=3000, recalled=5000)], "t-b",
                     id="full tie: greater trigger id, either order"),
        pytest.param([msg("t-9", delivered=3000, recalled=5000),
                      msg("t-10", "sms", delivered=3000, recalled=5000)], "t-9",
                     id="full tie: ids compare as text"),
        pytest.param([msg("a", recalled=5000), msg("b", "sms", delivered=1, recalled=7000),
                      msg("c", "email", delivered=9999)], "b",
                     id="three messages, one not recalled"),
    ],
)  # fmt: skip
def test_last_touch(messages: list[RecallMessage], winner: str | None) -> None:
    touch = last_touch(messages)
    assert (touch.trigger_id if touch else None) == winner


def test_last_touch_takes_any_iterable() -> None:
    touch = last_touch(m for m in [msg("a", recalled=5), msg("b", recalled=6)])
    assert touch is not None and touch.trigger_id == "b"


# --- follow_up_end / lost_again ---------------------------------------------------------------

DAY = 100  # the UTC day of the return in the tables below
DEFAULT = RecallConfig()  # follow_up 30 d, lost_after 14 d: the span is days 117 .. 130
SHORT = RecallConfig(follow_up_ms=10 * DAY_MS, lost_after_ms=3 * DAY_MS)  # days 108 .. 110


def events(counts: Mapping[int, int]) -> Callable[[int], int]:
    return lambda day: counts.get(day, 0)


@pytest.mark.parametrize(
    "recalled_ms,config,end",
    [
        pytest.param(DAY * DAY_MS, DEFAULT, (DAY + 31) * DAY_MS, id="start of the day"),
        pytest.param(DAY * DAY_MS + 5 * 3_600_000, DEFAULT, (DAY + 31) * DAY_MS, id="mid-day"),
        pytest.param((DAY + 1) * DAY_MS - 1, DEFAULT, (DAY + 31) * DAY_MS,
                     id="last ms of the day"),
        pytest.param((DAY + 1) * DAY_MS, DEFAULT, (DAY + 32) * DAY_MS, id="next day"),
        pytest.param(DAY * DAY_MS + 1, SHORT, (DAY + 11) * DAY_MS, id="follow_up 10 d"),
        pytest.param(DAY * DAY_MS, RecallConfig(follow_up_ms=20 * DAY_MS, lost_after_ms=7 * DAY_MS),
                     (DAY + 21) * DAY_MS, id="follow_up 20 d"),
    ],
)  # fmt: skip
def test_follow_up_end(recalled_ms: int, config: RecallConfig, end: int) -> None:
    assert follow_up_end(recalled_ms, config) == end


@pytest.mark.parametrize(
    "recalled_ms,config,counts,lost",
    [
        pytest.param(DAY * DAY_MS, DEFAULT, {}, True, id="no events at all"),
        pytest.param(DAY * DAY_MS, DEFAULT, {117: 1}, False, id="event on the span's first day"),
        pytest.param(DAY * DAY_MS, DEFAULT, {130: 2}, False, id="event on the span's last day"),
        pytest.param(DAY * DAY_MS, DEFAULT, {123: 1}, False, id="event inside the span"),
        pytest.param(DAY * DAY_MS, DEFAULT, {116: 5}, True, id="event the day before the span"),
        pytest.param(DAY * DAY_MS, DEFAULT, {d: 1 for d in range(100, 117)}, True,
                     id="events every day before the span only"),
        pytest.param(DAY * DAY_MS, DEFAULT, {131: 1}, True, id="event after the follow-up"),
        pytest.param(DAY * DAY_MS, DEFAULT, {100: 3}, True, id="event on the return day"),
        pytest.param(DAY * DAY_MS, DEFAULT, {120: 0}, True, id="a zero count is no event"),
        pytest.param((DAY + 1) * DAY_MS - 1, DEFAULT, {130: 1}, False,
                     id="late-day return: last day is still 130"),
        pytest.param((DAY + 1) * DAY_MS - 1, DEFAULT, {131: 1}, True,
                     id="late-day return: day 131 is after the follow-up"),
        pytest.param((DAY + 1) * DAY_MS - 1, DEFAULT, {116: 1}, True,
                     id="late-day return: day 116 is before the span"),
        pytest.param((DAY + 1) * DAY_MS, DEFAULT, {131: 1}, False,
                     id="return the next day: span moves to 118 .. 131"),
        pytest.param((DAY + 1) * DAY_MS, DEFAULT, {117: 1}, True,
                     id="return the next day: 117 is before the span"),
        pytest.param(DAY * DAY_MS, SHORT, {}, True, id="short: no events"),
        pytest.param(DAY * DAY_MS, SHORT, {107: 1}, True, id="short: the day before the span"),
        pytest.param(DAY * DAY_MS, SHORT, {108: 1}, False, id="short: first day"),
        pytest.param(DAY * DAY_MS, SHORT, {110: 1}, False, id="short: last day"),
        pytest.param(DAY * DAY_MS, SHORT, {111: 1}, True, id="short: after the follow-up"),
        pytest.param(DAY * DAY_MS, RecallConfig(follow_up_ms=10 * DAY_MS,
                                                lost_after_ms=10 * DAY_MS),
                     {101: 1}, False, id="lost_after == follow_up: the day after the return"),
    ],
)  # fmt: skip
def test_lost_again(
    recalled_ms: int, config: RecallConfig, counts: dict[int, int], lost: bool
) -> None:
    assert lost_again(events(counts), recalled_ms, config) is lost


@pytest.mark.parametrize(
    "config,days",
    [
        pytest.param(DEFAULT, set(range(117, 131)), id="default"),
        pytest.param(SHORT, {108, 109, 110}, id="short"),
    ],
)
def test_lost_again_asks_only_the_span(config: RecallConfig, days: set[int]) -> None:
    asked: list[int] = []

    def events_on(day: int) -> int:
        asked.append(day)
        return 0

    assert lost_again(events_on, DAY * DAY_MS + 123, config)
    assert set(asked) == days and len(asked) == len(days)


@settings(max_examples=200, deadline=None)
@given(
    recalled_ms=st.integers(0, 20_000 * DAY_MS),
    follow_up=st.integers(1, 120),
    data=st.data(),
)
def test_span_ends_where_follow_up_ends(recalled_ms: int, follow_up: int, data: Any) -> None:
    lost_after = data.draw(st.integers(1, follow_up))
    config = RecallConfig(follow_up_ms=follow_up * DAY_MS, lost_after_ms=lost_after * DAY_MS)
    end = follow_up_end(recalled_ms, config)
    assert end % DAY_MS == 0 and end > recalled_ms
    last = end // DAY_MS - 1  # the follow-up's last day is the one before its end
    first = last - lost_after + 1
    assert first > recalled_ms // DAY_MS  # the span never holds the return's own day
    assert not lost_again(events({last: 1}), recalled_ms, config)
    assert not lost_again(events({first: 1}), recalled_ms, config)
    assert lost_again(events({last + 1: 1}), recalled_ms, config)
    assert lost_again(events({first - 1: 1}), recalled_ms, config)


# --- RecallTally: a hand-computed scenario ----------------------------------------------------
#
# u1: recalled at 5000 by a push win-back AND an sms campaign message (same return); the sms one
#     was delivered last -> last touch sms / winback-spring; lost again.
# u2: a push and an sms win-back, neither recalled (sms clicked).
# u3: recalled by a push campaign message (clicked); not judged yet (lost None).
# u4: recalled by an sms win-back (its push win-back did not recall); not lost.

SCENARIO: list[tuple[list[RecallMessage], bool | None]] = [
    ([msg("win_back-1", "push", user_id="u1", sent=1000, delivered=1100, recalled=5000,
          clicked=True),
      msg("campaign-1", "sms", user_id="u1", kind="campaign", sent=2000, delivered=2100,
          recalled=5000, campaign="winback-spring")], True),
    ([msg("win_back-2", "push", user_id="u2", sent=1000),
      msg("win_back-3", "sms", user_id="u2", sent=3000, delivered=3100, clicked=True)], None),
    ([msg("campaign-2", "push", user_id="u3", kind="campaign", sent=1500, delivered=1600,
          recalled=4000, clicked=True, campaign="winback-spring")], None),
    ([msg("win_back-4", "sms", user_id="u4", sent=1000, delivered=1200, recalled=6000),
      msg("win_back-5", "push", user_id="u4", sent=1000, delivered=1300)], False),
]  # fmt: skip


def tally_of(users: list[tuple[list[RecallMessage], bool | None]]) -> RecallTally:
    tally = RecallTally(PRICES)
    for messages, lost in users:
        tally.add(messages, lost)
    return tally


def figures(*values: Any) -> dict[str, Any]:
    assert len(values) == len(FIGURES)
    return dict(zip(FIGURES, values, strict=True))


# sent, delivered, clicked, click_rate, users, recalled, recall_share, last_touch, cost,
# cost_per_recalled, judged, lost, rechurn_share
EXPECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("channels", "push", figures(4, 3, 2, 0.5, 4, 2, 0.5, 1, 0.0, 0.0, 1, 1, 1.0)),
    ("channels", "sms", figures(3, 3, 1, 0.333333, 3, 2, 0.666667, 2, 0.15, 0.075, 2, 1, 0.5)),
    ("campaigns", "win_back",
     figures(5, 4, 2, 0.4, 3, 2, 0.666667, 1, 0.1, 0.05, 2, 1, 0.5)),
    ("campaigns", "winback-spring",
     figures(2, 2, 1, 0.5, 2, 2, 1.0, 2, 0.05, 0.025, 1, 1, 1.0)),
    ("overall", "", figures(7, 6, 3, 0.428571, 4, 3, 0.75, 3, 0.15, 0.05, 2, 1, 0.5)),
]  # fmt: skip


@pytest.mark.parametrize(
    "section,key,expected",
    [pytest.param(s, k, e, id=f"{s}:{k}" if k else s) for s, k, e in EXPECTED],
)
def test_scenario_figures(section: str, key: str, expected: dict[str, Any]) -> None:
    report = tally_of(SCENARIO).report()
    row = report[section] if section == "overall" else report[section][key]
    assert {k: row[k] for k in FIGURES} == expected


def test_scenario_report_shape() -> None:
    report = tally_of(SCENARIO).report()
    assert list(report["channels"]) == ["push", "sms"]  # sorted
    assert list(report["campaigns"]) == ["win_back", "winback-spring"]
    assert report["attribution"] == ATTRIBUTION
    for section in ("channels", "campaigns"):
        for row in report[section].values():
            assert set(row) == set(FIGURES)
    overall = report["overall"]
    assert set(overall) == {*FIGURES, "recalled_sum_over_channels", "recalled_last_touch_sum"}
    assert overall["recalled_sum_over_channels"] == 4  # u1 counts in push and in sms
    assert overall["recalled_last_touch_sum"] == 3 == overall["recalled"]


def test_two_channels_one_return() -> None:
    """One user, recalled by a push and an sms message at the same return."""
    tally = tally_of(SCENARIO[:1])
    report = tally.report()
    push, sms = report["channels"]["push"], report["channels"]["sms"]
    assert push["recalled"] == sms["recalled"] == 1  # in both channel rows
    assert report["overall"]["recalled"] == 1  # once overall
    assert report["overall"]["recalled_sum_over_channels"] == 2
    assert (push["recalled_last_touch"], sms["recalled_last_touch"]) == (0, 1)  # to one
    assert report["campaigns"]["winback-spring"]["recalled_last_touch"] == 1
    assert report["campaigns"]["win_back"]["recalled_last_touch"] == 0
    # both rows judge the user (re-churn counts every row that recalled them)
    assert push["rechurn_lost"] == sms["rechurn_lost"] == report["overall"]["rechurn_lost"] == 1


def test_not_judged_user_counts_as_recalled_only() -> None:
    report = tally_of([SCENARIO[2]]).report()
    for row in (report["channels"]["push"], report["overall"]):
        assert (row["recalled"], row["recalled_last_touch"]) == (1, 1)
        assert (row["rechurn_judged"], row["rechurn_lost"], row["rechurn_share"]) == (0, 0, None)


def test_no_one_recalled() -> None:
    report = tally_of([SCENARIO[1]]).report()
    for row in [*report["channels"].values(), *report["campaigns"].values(), report["overall"]]:
        assert row["recalled"] == 0 and row["recall_share"] == 0.0
        assert row["cost_per_recalled"] is None
        assert row["recalled_last_touch"] == 0
        assert (row["rechurn_judged"], row["rechurn_share"]) == (0, None)
    assert report["overall"]["cost"] == 0.05


def test_lost_is_ignored_for_a_user_not_recalled() -> None:
    report = tally_of([(SCENARIO[1][0], True)]).report()
    assert report["overall"]["rechurn_judged"] == report["overall"]["rechurn_lost"] == 0


def test_empty_tally() -> None:
    report = RecallTally(PRICES).report()
    assert report["channels"] == {} and report["campaigns"] == {}
    overall = report["overall"]
    assert (overall["sent"], overall["users"], overall["recalled"]) == (0, 0, 0)
    assert overall["click_rate"] is None and overall["recall_share"] is None
    assert overall["cost_per_recalled"] is None and overall["rechurn_share"] is None
    assert overall["recalled_sum_over_channels"] == overall["recalled_last_touch_sum"] == 0


def test_prices() -> None:
    tally = RecallTally({"sms": 0.05, "email": 0.001})
    tally.add([msg("a", "email", user_id="u1", recalled=5), msg("b", "fax", user_id="u1")], None)
    tally.add([msg("c", "email", user_id="u2")], None)
    report = tally.report()
    assert report["channels"]["email"]["cost"] == 0.002
    assert report["channels"]["email"]["cost_per_recalled"] == 0.002
    assert report["channels"]["fax"]["cost"] == 0.0  # no price: free
    assert report["overall"]["cost"] == 0.002


def test_a_user_recalled_at_two_returns() -> None:
    """Any touch counts in both rows; last touch and re-churn follow the latest return."""
    tally = tally_of([
        ([msg("a", "push", recalled=5000, delivered=4000),
          msg("b", "sms", recalled=9000, delivered=1000)], False),
    ])  # fmt: skip
    report = tally.report()
    assert report["channels"]["push"]["recalled"] == report["channels"]["sms"]["recalled"] == 1
    assert report["channels"]["push"]["recalled_last_touch"] == 0
    assert report["channels"]["sms"]["recalled_last_touch"] == 1
    assert report["channels"]["push"]["rechurn_judged"] == 1


# --- RecallTally: properties ------------------------------------------------------------------

CHANNELS = ("push", "sms", "email")


@st.composite
def user_messages(draw: st.DrawFn, user_id: str) -> list[RecallMessage]:
    out: list[RecallMessage] = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["win_back", "campaign"]))
        campaign = draw(st.sampled_from(["winback-a", "winback-b"])) if kind == "campaign" else ""
        sent = draw(st.integers(1, 5_000))
        delivered = draw(st.sampled_from([0, sent, sent + 100]) | st.integers(0, 10_000))
        recalled = draw(st.sampled_from([0, 0, 20_000, 30_000]) | st.integers(0, 40_000))
        out.append(
            RecallMessage(
                f"{draw(st.sampled_from(['a', 'b', 'c']))}-{i}",  # unique per user
                user_id,
                kind,
                draw(st.sampled_from(CHANNELS)),
                sent,
                delivered,
                recalled,
                draw(st.booleans()),
                campaign,
            )
        )
    return out


@st.composite
def populations(draw: st.DrawFn) -> list[tuple[list[RecallMessage], bool | None]]:
    users: list[tuple[list[RecallMessage], bool | None]] = []
    for n in range(draw(st.integers(0, 8))):
        messages = draw(user_messages(f"u{n}"))
        recalled = any(m.recalled_ms for m in messages)
        lost = draw(st.sampled_from([None, True, False])) if recalled else None
        users.append((messages, lost))
    return users


def rows_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [*report["channels"].values(), *report["campaigns"].values(), report["overall"]]


def expected_last_touch(messages: list[RecallMessage]) -> RecallMessage | None:
    """The docstring's rule, written out: latest return, then latest delivered-else-sent, then
    the greater trigger id."""
    best: RecallMessage | None = None
    for m in messages:
        if m.recalled_ms == 0:
            continue
        if best is None:
            best = m
            continue
        touch = m.delivered_ms if m.delivered_ms else m.sent_ms
        best_touch = best.delivered_ms if best.delivered_ms else best.sent_ms
        if m.recalled_ms != best.recalled_ms:
            later = m.recalled_ms > best.recalled_ms
        elif touch != best_touch:
            later = touch > best_touch
        else:
            later = m.trigger_id > best.trigger_id
        if later:
            best = m
    return best


@settings(max_examples=300, deadline=None)
@given(populations())
def test_recalled_sums(users: list[tuple[list[RecallMessage], bool | None]]) -> None:
    report = tally_of(users).report()
    overall = report["overall"]
    channels, campaigns = report["channels"].values(), report["campaigns"].values()
    # (a) last touch splits the distinct recalled users over the rows
    assert sum(r["recalled_last_touch"] for r in channels) == overall["recalled"]
    assert sum(r["recalled_last_touch"] for r in campaigns) == overall["recalled"]
    assert overall["recalled_last_touch"] == overall["recalled"]
    assert overall["recalled_last_touch_sum"] == overall["recalled"]
    # (b) any touch counts a user in every channel that recalled them
    assert overall["recalled_sum_over_channels"] == sum(r["recalled"] for r in channels)
    assert overall["recalled_sum_over_channels"] >= overall["recalled"]
    assert sum(r["recalled"] for r in campaigns) >= overall["recalled"]


@settings(max_examples=300, deadline=None)
@given(populations())
def test_row_bounds(users: list[tuple[list[RecallMessage], bool | None]]) -> None:
    report = tally_of(users).report()
    for row in rows_of(report):
        # (c)
        assert row["recalled"] <= row["users"] <= row["sent"]
        assert row["clicked"] <= row["sent"] and row["delivered"] <= row["sent"]
        assert row["recalled_last_touch"] <= row["recalled"]
        assert row["rechurn_lost"] <= row["rechurn_judged"] <= row["recalled"]
        assert row["click_rate"] == (
            round(row["clicked"] / row["sent"], 6) if row["sent"] else None
        )
        if row["recalled"]:
            assert row["cost_per_recalled"] == pytest.approx(
                row["cost"] / row["recalled"], abs=1e-6
            )
        else:
            assert row["cost_per_recalled"] is None


@settings(max_examples=300, deadline=None)
@given(populations())
def test_sent_and_cost_sums(users: list[tuple[list[RecallMessage], bool | None]]) -> None:
    report = tally_of(users).report()
    overall = report["overall"]
    channels, campaigns = report["channels"].values(), report["campaigns"].values()
    # (d)
    total = sum(len(messages) for messages, _ in users)
    assert overall["sent"] == total
    assert sum(r["sent"] for r in channels) == total == sum(r["sent"] for r in campaigns)
    assert sum(r["delivered"] for r in channels) == overall["delivered"]
    assert sum(r["clicked"] for r in campaigns) == overall["clicked"]
    assert sum(r["cost"] for r in channels) == pytest.approx(overall["cost"], abs=1e-6)
    assert sum(r["cost"] for r in campaigns) == pytest.approx(overall["cost"], abs=1e-6)
    expected_cost = sum(PRICES[m.channel] for messages, _ in users for m in messages)
    assert overall["cost"] == pytest.approx(expected_cost, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(populations())
def test_independent_recount(users: list[tuple[list[RecallMessage], bool | None]]) -> None:
    report = tally_of(users).report()
    # (e) recomputed from the module docstring's rules
    recalled_users = {m.user_id for messages, _ in users for m in messages if m.recalled_ms > 0}
    assert report["overall"]["recalled"] == len(recalled_users)
    assert report["overall"]["users"] == len({m.user_id for ms, _ in users for m in ms})
    by_channel: dict[str, int] = {}
    by_campaign: dict[str, int] = {}
    judged: dict[str, int] = {}
    lost_count: dict[str, int] = {}
    for messages, lost in users:
        touch = expected_last_touch(messages)
        if touch is None:
            continue
        by_channel[touch.channel] = by_channel.get(touch.channel, 0) + 1
        key = touch.campaign_id if touch.campaign_id else touch.kind
        by_campaign[key] = by_campaign.get(key, 0) + 1
        if lost is None:
            continue
        for channel in {m.channel for m in messages if m.recalled_ms > 0}:
            judged[channel] = judged.get(channel, 0) + 1
            lost_count[channel] = lost_count.get(channel, 0) + lost
    for channel, row in report["channels"].items():
        assert row["recalled_last_touch"] == by_channel.get(channel, 0), channel
        assert row["rechurn_judged"] == judged.get(channel, 0), channel
        assert row["rechurn_lost"] == lost_count.get(channel, 0), channel
    for campaign, row in report["campaigns"].items():
        assert row["recalled_last_touch"] == by_campaign.get(campaign, 0), campaign
    assert set(by_channel) <= set(report["channels"])
    assert set(by_campaign) <= set(report["campaigns"])
    assert report["overall"]["rechurn_judged"] == sum(
        1 for messages, lost in users if lost is not None and any(m.recalled_ms for m in messages)
    )
    assert report["overall"]["rechurn_lost"] == sum(1 for _, lost in users if lost is True)


@settings(max_examples=100, deadline=None)
@given(populations())
def test_last_touch_matches_the_rule(users: list[tuple[list[RecallMessage], bool | None]]) -> None:
    for messages, _ in users:
        assert last_touch(messages) == expected_last_touch(messages)


# --- text -------------------------------------------------------------------------------------


def scenario_report(**extra: Any) -> dict[str, Any]:
    return {**tally_of(SCENARIO).report(), **extra}


def test_text() -> None:
    out = text(scenario_report(since="2024-05-01", until="2024-06-01", as_of="2024-07-01"))
    assert out.startswith("recall 2024-05-01 .. 2024-06-01 (as of 2024-07-01)")
    for needle in ("by channel", "by campaign", "overall", "push", "sms", "win_back",
                   "winback-spring", "equal to the distinct count", ATTRIBUTION):  # fmt: skip
        assert needle in out, needle
    assert "MISMATCH" not in out
    assert "3 distinct; 4 summed over channels" in out
    assert "3 by last touch" in out
    assert "had no record" not in out
    assert out.index("by channel") < out.index("by campaign") < out.index("overall (distinct")


def test_text_rows_are_aligned() -> None:
    lines = text(scenario_report()).splitlines()
    start = lines.index("by channel") + 1
    table = lines[start : start + 3]  # head, push, sms
    assert table[1].startswith("push") and table[2].startswith("sms")
    assert len({len(line) for line in table}) == 1
    assert table[0].split()[:3] == ["sent", "clicked", "click"]
    assert table[2].split()[1:3] == ["3", "1"]  # sms: sent 3, clicked 1


def test_text_missing() -> None:
    assert "3 messages of the ledger had no record" in text(scenario_report(missing=3))
    assert "1,234 messages of the ledger" in text(scenario_report(missing=1234))
    assert "had no record" not in text(scenario_report(missing=0))


def test_text_mismatch() -> None:
    report = scenario_report()
    report["overall"] = {**report["overall"], "recalled_last_touch_sum": 2}
    out = text(report)
    assert "MISMATCH" in out and "equal to the distinct count" not in out


def test_text_of_an_empty_report() -> None:
    out = text(RecallTally(PRICES).report())
    assert "by channel" in out and "overall (distinct users)" in out
    assert "0 distinct" in out and "equal to the distinct count" in out
    lines = out.splitlines()
    overall = lines[lines.index("overall (distinct users)") + 2].split()
    assert overall[0] == "all" and overall[1:3] == ["0", "0"]
    assert overall[3] == "-"  # click % of nothing sent: None shows as "-"
