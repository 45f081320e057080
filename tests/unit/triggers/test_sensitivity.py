"""Marketing sensitivity from feedback counts (triggers/sensitivity.py): tables of cases."""

from __future__ import annotations

import pytest

from triggers.sensitivity import (
    coupon_sensitive,
    marketing_sensitivity,
    marketing_tags,
    preferred_channels,
    reach,
    responsive_channels,
)


def counts(**by_key: int) -> dict[str, int]:
    """``push__opened=3`` -> ``{"push:opened": 3}``; ``offer__coupon__converted`` likewise."""
    return {k.replace("__", ":"): v for k, v in by_key.items()}


@pytest.mark.parametrize(
    ("data", "prefix", "expected"),
    [
        (counts(), "push", 0),
        (counts(push__delivered=5, push__opened=2), "push", 5),
        (counts(push__delivered=1, push__opened=3), "push", 3),  # lost receipts: opens count
        (counts(sms__clicked=4), "sms", 4),
        (counts(offer__coupon__delivered=2, offer__coupon__converted=1), "offer:coupon", 2),
    ],
)
def test_reach_is_the_most_of_any_status(data: dict[str, int], prefix: str, expected: int) -> None:
    assert reach(data, prefix) == expected


@pytest.mark.parametrize(
    ("data", "given", "expected"),
    [
        # no data, or data on one channel only: the configured order stays
        (counts(), ("push", "sms", "email"), ("push", "sms", "email")),
        (counts(sms__delivered=10, sms__converted=5), ("push", "sms"), ("push", "sms")),
        # below MIN_SAMPLE on one of them: it does not move, nor do the others around it
        (
            counts(push__delivered=2, sms__delivered=10, sms__opened=5),
            ("push", "sms"),
            ("push", "sms"),
        ),
        # both judged: conversions first
        (
            counts(push__delivered=10, push__opened=8, sms__delivered=5, sms__converted=2),
            ("push", "sms"),
            ("sms", "push"),
        ),
        # equal conversion: engagement decides; clicks count where opens are not reported
        (
            counts(push__delivered=10, push__opened=1, sms__delivered=10, sms__clicked=4),
            ("push", "sms", "email"),
            ("sms", "push", "email"),
        ),
        # a channel without data keeps its position; the judged ones swap around it
        (
            counts(push__delivered=5, email__delivered=5, email__opened=3),
            ("push", "sms", "email"),
            ("email", "sms", "push"),
        ),
        # a tie keeps the given order
        (
            counts(push__delivered=4, push__opened=2, email__delivered=4, email__opened=2),
            ("email", "push"),
            ("email", "push"),
        ),
        # channels with data that the trigger does not use are ignored
        (
            counts(sms__delivered=9, sms__converted=9, push__delivered=3),
            ("push", "email"),
            ("push", "email"),
        ),
    ],
)
def test_preferred_channels(
    data: dict[str, int], given: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert preferred_channels(data, given) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (counts(), []),
        (counts(push__delivered=2, push__opened=2), []),  # too few
        (counts(push__delivered=5), []),  # reached, never engaged
        (counts(push__delivered=5, push__opened=1, sms__delivered=3, sms__converted=1),
         ["sms", "push"]),
        (counts(email__delivered=4, email__opened=2, push__delivered=4, push__opened=3),
         ["push", "email"]),
    ],
)  # fmt: skip
def test_responsive_channels(data: dict[str, int], expected: list[str]) -> None:
    assert responsive_channels(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (counts(), None),
        (counts(offer__coupon__delivered=2, offer__coupon__converted=2), None),  # too few
        (counts(offer__coupon__delivered=5), False),  # never converted on a coupon
        (counts(offer__coupon__delivered=5, offer__coupon__converted=1), True),  # 20 %
        # 10 % with coupons, 0 % without: a lift
        (counts(offer__coupon__delivered=10, offer__coupon__converted=1, push__delivered=20,
                push__converted=1), True),
        # 10 % with coupons, 10 % without: no lift
        (counts(offer__coupon__delivered=10, offer__coupon__converted=1, push__delivered=30,
                push__converted=3), False),
        # 10 % with coupons, too few messages without to compare
        (counts(offer__coupon__delivered=10, offer__coupon__converted=1, push__delivered=11,
                push__converted=1), False),
    ],
)  # fmt: skip
def test_coupon_sensitive(data: dict[str, int], expected: bool | None) -> None:
    assert coupon_sensitive(data) is expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (counts(), None),
        (counts(push__delivered=2, push__opened=2), None),
        (counts(push__delivered=10), "low"),
        (counts(push__delivered=10, push__opened=1), "low"),
        (counts(push__delivered=10, push__opened=2), "medium"),
        (counts(push__delivered=10, push__opened=5), "high"),
        (counts(push__delivered=10, push__converted=1), "high"),
        (counts(push__delivered=30, push__converted=1), "medium"),  # 3.3 % conversion
        # kind and offer counts do not add reach (they repeat the channel counts)
        (counts(push__delivered=10, kind__win_back__delivered=10, offer__coupon__delivered=10,
                push__opened=2), "medium"),
    ],
)  # fmt: skip
def test_marketing_sensitivity(data: dict[str, int], expected: str | None) -> None:
    assert marketing_sensitivity(data) == expected


def test_marketing_tags_document() -> None:
    data = counts(
        push__delivered=4, push__opened=2, push__converted=1, push__recalled=1,
        kind__win_back__delivered=4, kind__win_back__recalled=1,
    )  # fmt: skip
    tags = marketing_tags(data)
    assert tags["channels"] == {
        "push": {
            "reached": 4,
            "open_rate": 0.5,
            "click_rate": 0.0,
            "conversion_rate": 0.25,
            "recalled": 1,
        }
    }
    assert tags["responsive_channels"] == ["push"]
    assert tags["coupon_sensitive"] is None
    assert tags["marketing_sensitivity"] == "high"
    assert tags["counts"]["kind:win_back:recalled"] == 1
