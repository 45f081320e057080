"""The uplift of each experiment variant over its holdout, and when to decide (pure).

The test is **fixed-horizon**: the number of users per arm is settled before looking (given as
the experiment's ``horizon``, else :func:`sample_size` for its ``mde``, ``alpha`` and ``power``),
and until every arm and the holdout reached it the hint is *keep running*, whatever the interim
numbers say. Stopping the first time an interval clears zero ("peeking") makes a false win far
likelier than ``alpha``: with a daily look over a month it is several times ``alpha``. With
several variants each is tested at ``alpha / k`` (Bonferroni), so that the chance of any false
win stays below ``alpha``.

The quantiles come from :class:`statistics.NormalDist` (exact to double precision), so the
worker and the API need no scipy for this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from triggers.experiments import HOLDOUT, Experiment

Verdict = Literal["keep_running", "ship", "stop_no_effect", "stop_harmful"]
PRIOR_RATE = 0.05  # the holdout's rate assumed for the horizon until it has a conversion
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Arm:
    """An arm's users (assigned, and whose outcome window has closed) and those who converted
    (or were recalled: the experiment's ``metric``)."""

    name: str
    users: int
    converted: int

    def __post_init__(self) -> None:
        if not 0 <= self.converted <= self.users:
            raise ValueError(f"arm {self.name!r}: converted {self.converted} of {self.users}")

    @property
    def rate(self) -> float:
        return self.converted / self.users if self.users else 0.0


@dataclass(frozen=True, slots=True)
class Uplift:
    diff: float  # the arm's rate minus the holdout's, in absolute terms
    low: float  # the two-sided (1 - alpha) interval of diff (Newcombe's method 10)
    high: float
    relative: float | None  # diff / the holdout's rate; None when that is 0
    p: float  # two-sided pooled two-proportion z-test


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    text: str  # one paragraph for the report, stating the rule it followed
    horizon: int  # users per arm the decision is made at
    variant: str | None = None  # the variant to ship, or the harmful one


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for ``x`` of ``n`` (Newcombe 1998, method 3); [0, 1] if n = 0."""
    if n == 0:
        return 0.0, 1.0
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(x * (n - x) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def uplift(arm: Arm, holdout: Arm, alpha: float) -> Uplift:
    """The arm's uplift over the holdout, with a ``1 - alpha`` interval and a p value.

    The interval is Newcombe's hybrid score interval (R. G. Newcombe, "Interval estimation for
    the difference between independent proportions: comparison of eleven methods", Statistics
    in Medicine 17 (1998) 873-890, method 10): from the Wilson intervals ``(l1, u1)`` and
    ``(l2, u2)`` of the two rates, ``d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` to
    ``d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``. Unlike the Wald interval it keeps its coverage
    near rates of 0 and small arms, which conversion rates of a few percent are.
    """
    z = _NORMAL.inv_cdf(1 - alpha / 2)
    p1, p2 = arm.rate, holdout.rate
    l1, u1 = wilson(arm.converted, arm.users, z)
    l2, u2 = wilson(holdout.converted, holdout.users, z)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Uplift(diff, low, high, diff / p2 if p2 else None, _z_test(arm, holdout))


def _z_test(a: Arm, b: Arm) -> float:
    """Two-sided p of the pooled two-proportion z-test; 1 when there is nothing to test."""
    if not a.users or not b.users:
        return 1.0
    pooled = (a.converted + b.converted) / (a.users + b.users)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.users + 1 / b.users))
    if se == 0:
        return 1.0
    return 2 * _NORMAL.cdf(-abs(a.rate - b.rate) / se)


def sample_size(p0: float, mde: float, alpha: float, power: float) -> int:
    """Users per arm to detect an absolute uplift of ``mde`` over a rate of ``p0``.

    The two-sided two-proportion test with the normal approximation, equal arms and no
    continuity correction (Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions,
    3rd ed. 2003, eq. 4.14 without its correction), with ``p1 = p0 + mde`` and
    ``pbar = (p0 + p1) / 2``::

        n = (z(1 - alpha/2) * sqrt(2 pbar (1 - pbar))
             + z(power) * sqrt(p0 (1 - p0) + p1 (1 - p1)))^2 / mde^2

    When ``p0 + mde`` passes 1 the drop ``p1 = p0 - mde`` is sized instead.
    """
    if not 0 <= p0 <= 1 or not 0 < mde < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"sample_size({p0}, {mde}, {alpha}, {power}): out of range")
    p1 = p0 + mde if p0 + mde <= 1 else p0 - mde
    pbar = (p0 + p1) / 2
    root = _NORMAL.inv_cdf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar)) + _NORMAL.inv_cdf(
        power
    ) * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    return max(1, math.ceil(root * root / (mde * mde)))


def decision(arms: Sequence[Arm], holdout: Arm, experiment: Experiment) -> Decision:
    """The hint for the report: keep running until the horizon, then ship, or stop.

    ``arms`` are the variants' (a variant left out counts as an arm without users; a name the
    experiment does not have is a ValueError). The horizon is the experiment's ``horizon`` or
    :func:`sample_size` at ``alpha / k`` for k variants, from the holdout's observed rate
    (:data:`PRIOR_RATE` until it has a conversion). That rate moves a little as users come in,
    which moves the horizon but never looks at a difference between arms, so it does not
    inflate false wins; give ``horizon`` to fix it in advance.

    At the horizon, each variant's interval at ``alpha / k``: the best variant (largest
    uplift) whose interval lies above 0 is *ship*; else one whose interval lies below 0 is
    *stop_harmful*; else *stop_no_effect*. The decision is made once, at the horizon: computing
    it again every day on more users is peeking too (the caller freezes the counts).
    """
    by_name = {a.name: a for a in arms}
    names = [v.name for v in experiment.variants]
    strangers = sorted(set(by_name) - set(names))
    if strangers or holdout.name != HOLDOUT:
        raise ValueError(
            f"experiment {experiment.name!r} has no arm {(strangers or [holdout.name])[0]!r}"
        )
    variants = [by_name.get(n) or Arm(n, 0, 0) for n in names]
    k = len(variants)
    alpha = experiment.alpha / k
    horizon = experiment.horizon or sample_size(
        holdout.rate if holdout.converted else PRIOR_RATE, experiment.mde, alpha, experiment.power
    )
    rule = (
        f"Fixed-horizon test: decided once every arm and the holdout reached {horizon:,} users; "
        f"each of {k} variant{'s' if k > 1 else ''} against the holdout at alpha "
        f"{_num(experiment.alpha)}" + (f" / {k} (Bonferroni)" if k > 1 else "") + ", "
        f"Newcombe interval and pooled z-test on {experiment.metric}, "
        f"sized for {_pct(experiment.mde)} points at power {_num(experiment.power)}."
    )
    if experiment.holdout == 0:
        return Decision("keep_running", "No holdout: uplift cannot be measured. " + rule, horizon)
    reached = min(a.users for a in (*variants, holdout))
    if reached < horizon:
        return Decision("keep_running", f"{reached:,} of {horizon:,} users per arm; decide at the "
                        "horizon, not before: looking earlier inflates false wins. " + rule,
                        horizon)  # fmt: skip
    ups = {a.name: uplift(a, holdout, alpha) for a in variants}
    level = f"{_num(100 * (1 - alpha))} % interval"
    winners = [n for n in names if ups[n].low > 0]
    if winners:
        best = max(winners, key=lambda n: ups[n].diff)
        return Decision("ship", f"Ship {best}: {_effect(ups[best], level)}. " + rule, horizon, best)
    losers = [n for n in names if ups[n].high < 0]
    if losers:
        worst = min(losers, key=lambda n: ups[n].diff)
        text = f"Stop: {worst} does harm, {_effect(ups[worst], level)}. " + rule
        return Decision("stop_harmful", text, horizon, worst)
    text = (
        "Stop: no variant's interval excludes 0, so none shows an uplift or harm "
        f"(the test was sized to find {_pct(experiment.mde)} points {_pct(experiment.power)} % "
        "of the time). " + rule
    )
    return Decision("stop_no_effect", text, horizon)


def _effect(u: Uplift, level: str) -> str:
    return (
        f"{_signed(u.diff)} points over the holdout ({level} {_signed(u.low)} to "
        f"{_signed(u.high)}, p = {u.p:.2g})"
    )


def _signed(share: float) -> str:
    return f"{100 * share:+.2f}"


def _pct(share: float) -> str:
    return _num(100 * share)


def _num(x: float) -> str:
    return f"{x:.4g}"
