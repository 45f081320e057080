"""Significance tests and effect sizes of an insight report, from counts, never from raw
samples: a tally holds value -> users maps (tally.py), so memory stays bounded however large the
audiences are, and a test on them equals the test on the expanded samples.

- Categories: chi-square test of independence on the audiences x values table
  (``scipy.stats.chi2_contingency``, whose default applies Yates' continuity correction only
  when the table has one degree of freedom, i.e. a 2x2 table: the report says so in its notes),
  with Cramér's V (``scipy.stats.contingency.association``, from the uncorrected statistic).
- Numbers: ranks. Two audiences: Mann-Whitney U, two-sided, normal approximation with tie and
  continuity corrections (as ``scipy.stats.mannwhitneyu(method="asymptotic")``), effect the
  rank-biserial r = 2 U1 / (n1 n2) - 1, positive when the first audience tends higher (U1 is
  the first audience's U, the statistic reported, as scipy reports it). Three or more:
  Kruskal-Wallis H with the tie correction (as ``scipy.stats.kruskal``), effect
  epsilon² = H / (n - 1). Ranks are average ranks over the merged value -> count maps. An
  audience without any value takes no part; with a single value among all users (no order to
  test) there is no test.
- Benjamini-Hochberg q values over every test of a report (``adjust``): a report makes dozens
  of tests, and a million users make every p tiny, so a difference is *significant* only with
  q < 0.05 and an effect that is not negligible (:func:`significant`).

scipy is imported inside the functions so that importing ``profiles`` stays cheap (and works
without the ``insight`` extra until a test is asked for).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

ALPHA: Final = 0.05
# Upper bounds of negligible, small and medium effects (Cohen); anything above is large.
CRAMER_V: Final = (0.1, 0.3, 0.5)
RANK_BISERIAL: Final = (0.1, 0.3, 0.5)
EPSILON_SQUARED: Final = (0.01, 0.08, 0.26)
MAGNITUDES: Final = ("negligible", "small", "medium", "large")


@dataclass(frozen=True, slots=True)
class Test:
    """One test: its statistic and p, its effect size and that effect's magnitude in words;
    ``q`` once the report has adjusted all its p values together."""

    name: str  # "chi-square", "Mann-Whitney U", "Kruskal-Wallis H" (en dashes)
    statistic: float
    df: int | None
    p: float
    effect_name: str  # "Cramér's V", "rank-biserial r", "epsilon²"
    effect: float
    magnitude: str  # "negligible" | "small" | "medium" | "large"
    q: float | None = None


def magnitude(effect: float, bounds: tuple[float, float, float]) -> str:
    """The word for ``|effect|`` against the upper bounds of negligible, small and medium."""
    size = abs(effect)
    for word, bound in zip(MAGNITUDES, bounds, strict=False):
        if size < bound:
            return word
    return MAGNITUDES[-1]


def significant(test: Test) -> bool:
    """q < 0.05 and an effect worth reporting (a negligible one never is)."""
    return test.q is not None and test.q < ALPHA and test.magnitude != "negligible"


def chi_square(table: Sequence[Sequence[int]]) -> Test | None:
    """Rows: audiences, columns: values. Rows and columns without any user are left out;
    None when fewer than 2 of either remain."""
    from scipy.stats import chi2_contingency
    from scipy.stats.contingency import association

    rows = [list(map(int, row)) for row in table if sum(row) > 0]
    keep = [j for j in range(len(rows[0]) if rows else 0) if any(row[j] for row in rows)]
    if len(rows) < 2 or len(keep) < 2:
        return None
    observed = [[row[j] for j in keep] for row in rows]
    result = chi2_contingency(observed)
    v = float(association(observed, method="cramer"))
    return Test(
        "chi-square",
        float(result.statistic),
        int(result.dof),
        float(result.pvalue),
        "Cramér's V",
        v,
        magnitude(v, CRAMER_V),
    )


def _rank_sums(groups: Sequence[Mapping[float, int]]) -> tuple[list[float], float]:
    """Each group's sum of average ranks over the merged sample, and Σ (t³ - t) over the tie
    groups t (the tie correction's term)."""
    totals: dict[float, int] = {}
    for group in groups:
        for value, users in group.items():
            totals[value] = totals.get(value, 0) + users
    average: dict[float, float] = {}
    below, ties = 0, 0
    for value in sorted(totals):
        t = totals[value]
        average[value] = below + (t + 1) / 2
        below += t
        ties += t**3 - t
    sums = [math.fsum(users * average[v] for v, users in g.items()) for g in groups]
    return sums, float(ties)


def rank_test(counts: Sequence[Mapping[float, int]]) -> Test | None:
    """Mann-Whitney U for two audiences with values, Kruskal-Wallis H for more; None for fewer,
    or when every value is the same."""
    groups = [{v: n for v, n in g.items() if n > 0} for g in counts]
    groups = [g for g in groups if g]
    if len(groups) < 2 or len({v for g in groups for v in g}) < 2:
        return None
    sizes = [sum(g.values()) for g in groups]
    sums, ties = _rank_sums(groups)
    if len(groups) == 2:
        return _mann_whitney(sizes[0], sizes[1], sums[0], ties)
    return _kruskal(sizes, sums, ties)


def _mann_whitney(n1: int, n2: int, r1: float, ties: float) -> Test:
    n = n1 + n2
    u1 = r1 - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)  # two-sided: the larger U, as scipy
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2 - 0.5) / sigma
    p = min(1.0, math.erfc(z / math.sqrt(2)))  # 2 x the normal upper tail
    r = 2 * u1 / (n1 * n2) - 1
    return Test(
        "Mann\u2013Whitney U", u1, None, p, "rank-biserial r", r, magnitude(r, RANK_BISERIAL)
    )


def _kruskal(sizes: Sequence[int], sums: Sequence[float], ties: float) -> Test:
    from scipy.stats import chi2

    n = sum(sizes)
    middle = (n + 1) / 2
    # Σ n_g (mean rank_g - (n+1)/2)²: the centred form keeps precision at a million users.
    spread = math.fsum(size * (r / size - middle) ** 2 for size, r in zip(sizes, sums, strict=True))
    h = 12 / (n * (n + 1)) * spread / (1 - ties / (n**3 - n))
    df = len(sizes) - 1
    epsilon = h / (n - 1)
    return Test(
        "Kruskal\u2013Wallis H",
        h,
        df,
        float(chi2.sf(h, df)),
        "epsilon²",
        epsilon,
        magnitude(epsilon, EPSILON_SQUARED),
    )


def adjust(tests: Sequence[Test]) -> list[Test]:
    """The same tests with their Benjamini-Hochberg q values
    (``scipy.stats.false_discovery_control``)."""
    if not tests:
        return []
    from scipy.stats import false_discovery_control

    qs = false_discovery_control([t.p for t in tests], method="bh")
    return [dataclasses.replace(t, q=float(q)) for t, q in zip(tests, qs, strict=True)]
