"""Uplift intervals, the sample size, and the fixed-horizon decision of trigger experiments."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggers.experiment_stats import (
    PRIOR_RATE,
    Arm,
    decision,
    sample_size,
    uplift,
    wilson,
)
from triggers.experiments import HOLDOUT, Experiment, Variant

Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal
Z80 = 0.8416212335729143  # its 0.8 quantile


def wilson_by_hand(x: int, n: int, z: float) -> tuple[float, float]:
    """The roots in p of (x/n - p)^2 = z^2 p (1 - p) / n: Wilson's interval, solved afresh."""
    a = 1 + z * z / n
    b = -(2 * x / n + z * z / n)
    c = (x / n) ** 2
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


# R. G. Newcombe, "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17 (1998) 873-890, Table II, examples
# (a) and (c), method 10 (hybrid score interval, no continuity correction). Note that 56/70 -
# 48/80 is 0.2000. The published limits are to 4 decimals; the test derives them first.
@pytest.mark.parametrize(
    "x1,n1,x2,n2,low,high",
    [(56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090)],
)
def test_newcombe_published_examples(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_by_hand(x1, n1, Z95)
    l2, u2 = wilson_by_hand(x2, n2, Z95)
    derived_low = p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    derived_high = p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    assert (round(derived_low, 4), round(derived_high, 4)) == (low, high)

    u = uplift(Arm("a", n1, x1), Arm(HOLDOUT, n2, x2), 0.05)
    assert u.diff == pytest.approx(p1 - p2)
    assert (u.low, u.high) == pytest.approx((derived_low, derived_high), abs=1e-12)
    assert u.relative == pytest.approx((p1 - p2) / p2)
    assert wilson(x1, n1, Z95) == pytest.approx((l1, u1), abs=1e-12)


@pytest.mark.parametrize(
    "a,b", [(Arm("a", 70, 56), Arm(HOLDOUT, 80, 48)), (Arm("a", 5000, 260), Arm(HOLDOUT, 900, 40))]
)
def test_p_is_the_pooled_z_test(a: Arm, b: Arm) -> None:
    """The pooled z-test is the 2x2 chi-square test without continuity correction."""
    stats = pytest.importorskip("scipy.stats")
    table = [[a.converted, a.users - a.converted], [b.converted, b.users - b.converted]]
    expected = stats.chi2_contingency(table, correction=False)[1]
    assert uplift(a, b, 0.05).p == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "a,b,p,relative",
    [
        (Arm("a", 0, 0), Arm(HOLDOUT, 0, 0), 1.0, None),  # nothing yet: total, no division
        (Arm("a", 100, 0), Arm(HOLDOUT, 100, 0), 1.0, None),
        (Arm("a", 100, 100), Arm(HOLDOUT, 100, 100), 1.0, 0.0),
    ],
)
def test_degenerate_arms(a: Arm, b: Arm, p: float, relative: float | None) -> None:
    u = uplift(a, b, 0.05)
    assert (u.diff, u.p, u.relative) == (0.0, p, relative)
    assert u.low < 0 < u.high


def test_wilson_edges() -> None:
    assert wilson(0, 0, Z95) == (0.0, 1.0)
    assert wilson(0, 50, Z95)[0] == 0.0 and wilson(50, 50, Z95)[1] == 1.0


def test_arm_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="converted 5 of 3"):
        Arm("a", 3, 5)


@pytest.mark.parametrize(
    "p0,mde", [(0.05, 0.02), (0.01, 0.005), (0.2, 0.05), (0.5, 0.1), (0.0, 0.02), (0.99, 0.02)]
)
def test_sample_size_is_the_textbook_formula(p0: float, mde: float) -> None:
    p1 = p0 + mde if p0 + mde <= 1 else p0 - mde
    pbar = (p0 + p1) / 2
    n = Z95 * math.sqrt(2 * pbar * (1 - pbar)) + Z80 * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    assert sample_size(p0, mde, 0.05, 0.8) == math.ceil(n * n / mde**2)


def test_sample_size_moves_the_right_way() -> None:
    n = sample_size(0.05, 0.02, 0.05, 0.8)
    assert sample_size(0.05, 0.01, 0.05, 0.8) > n  # a smaller effect needs more users
    assert sample_size(0.05, 0.02, 0.025, 0.8) > n  # so does a stricter alpha
    assert sample_size(0.05, 0.02, 0.05, 0.9) > n  # and more power
    with pytest.raises(ValueError, match="out of range"):
        sample_size(0.05, 0, 0.05, 0.8)


def test_sample_size_gives_its_power() -> None:
    """Simulated: at the computed size the test at alpha finds the mde about 80 % of the time."""
    p0, mde = 0.2, 0.05
    n = sample_size(p0, mde, 0.05, 0.8)
    rng = random.Random(16)
    trials = 1500
    found = 0
    for _ in range(trials):
        a = sum(rng.random() < p0 + mde for _ in range(n))
        b = sum(rng.random() < p0 for _ in range(n))
        found += uplift(Arm("a", n, a), Arm(HOLDOUT, n, b), 0.05).p < 0.05
    assert found / trials == pytest.approx(0.8, abs=0.04)  # 0.04 is 3.9 standard deviations


def experiment(k: int = 2, holdout: float = 0.1, horizon: int | None = 1000) -> Experiment:
    variants = tuple(Variant(name, 1) for name in ("a", "b", "c")[:k])
    return Experiment("e", frozenset({"cart_reminder"}), frozenset(), holdout, variants,
                      horizon=horizon)  # fmt: skip


def arms(*counts: tuple[int, int]) -> list[Arm]:
    return [Arm(name, users, conv) for name, (users, conv) in zip("abc", counts, strict=False)]


PROGRESS = "{} of 1,000 users per arm; decide at the horizon, not before: looking earlier inflates"


# fmt: off
DECISIONS = [
    # before the horizon: keep running, whatever the interim numbers say
    (arms((400, 200), (400, 40)), Arm(HOLDOUT, 400, 40), "keep_running", None,
     PROGRESS.format(400)),
    (arms((400, 0), (400, 40)), Arm(HOLDOUT, 400, 200), "keep_running", None,
     PROGRESS.format(400)),
    (arms((5000, 2500), (5000, 500)), Arm(HOLDOUT, 999, 100), "keep_running", None,
     PROGRESS.format(999)),  # the holdout is the slowest arm
    (arms((5000, 2500)), Arm(HOLDOUT, 5000, 500), "keep_running", None,
     PROGRESS.format(0)),  # b has no users yet
    # at the horizon
    (arms((1000, 100), (1000, 150)), Arm(HOLDOUT, 1000, 100), "ship", "b", "Ship b: +5.00"),
    (arms((1000, 160), (1000, 200)), Arm(HOLDOUT, 1000, 100), "ship", "b", "Ship b: +10.00"),
    (arms((1000, 50), (1000, 160)), Arm(HOLDOUT, 1200, 120), "ship", "b", "Ship b: +6.00"),
    (arms((1000, 50), (1000, 100)), Arm(HOLDOUT, 1000, 100), "stop_harmful", "a",
     "Stop: a does harm, -5.00"),
    (arms((1000, 105), (1000, 95)), Arm(HOLDOUT, 1000, 100), "stop_no_effect", None,
     "Stop: no variant's interval excludes 0"),
]
# fmt: on


@pytest.mark.parametrize("variants,holdout,verdict,variant,start", DECISIONS)
def test_decisions(
    variants: list[Arm], holdout: Arm, verdict: str, variant: str | None, start: str
) -> None:
    d = decision(variants, holdout, experiment())
    assert (d.verdict, d.variant, d.horizon) == (verdict, variant, 1000)
    assert d.text.startswith(start)
    assert "Fixed-horizon test" in d.text and "alpha 0.05 / 2 (Bonferroni)" in d.text


@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), min_size=2, max_size=2),
    st.tuples(st.integers(0, 5000), st.integers(0, 5000)),
)
def test_never_a_verdict_before_the_horizon(
    counts: list[tuple[int, int]], held: tuple[int, int]
) -> None:
    variants = [Arm(n, u, min(c, u)) for n, (u, c) in zip("ab", counts, strict=True)]
    holdout = Arm(HOLDOUT, held[0], min(held[1], held[0]))
    d = decision(variants, holdout, experiment())
    if min(a.users for a in (*variants, holdout)) < 1000:
        assert d.verdict == "keep_running" and d.variant is None
    else:
        assert d.verdict != "keep_running"


def test_bonferroni_splits_alpha_over_the_variants() -> None:
    held, win = Arm(HOLDOUT, 1000, 100), Arm("a", 1000, 131)
    assert uplift(win, held, 0.05).low > 0 >= uplift(win, held, 0.025).low  # the case at hand
    assert decision([win], held, experiment(k=1)).verdict == "ship"
    null = Arm("b", 1000, 100)
    assert decision([win, null], held, experiment(k=2)).verdict == "stop_no_effect"


def test_the_horizon_comes_from_the_holdouts_rate() -> None:
    e = experiment(k=2, horizon=None)
    fresh = decision(arms((10, 1), (10, 2)), Arm(HOLDOUT, 10, 0), e)
    assert fresh.horizon == sample_size(PRIOR_RATE, 0.02, 0.025, 0.8)
    assert fresh.text.startswith(f"10 of {fresh.horizon:,} users per arm")
    later = decision(arms((10, 1), (10, 2)), Arm(HOLDOUT, 1000, 30), e)
    assert later.horizon == sample_size(0.03, 0.02, 0.025, 0.8)


def test_no_holdout_never_decides() -> None:
    d = decision(arms((10**6, 10**5)), Arm(HOLDOUT, 0, 0), experiment(k=1, holdout=0.0))
    assert d.verdict == "keep_running" and d.text.startswith("No holdout: uplift cannot be")


@pytest.mark.parametrize(
    "variants,holdout",
    [(arms((1, 0), (1, 0), (1, 0)), Arm(HOLDOUT, 1, 0)), (arms(), Arm("h", 1, 0))],
)
def test_arms_must_be_the_experiments(variants: list[Arm], holdout: Arm) -> None:
    with pytest.raises(ValueError, match="has no arm"):
        decision(variants, holdout, experiment())
