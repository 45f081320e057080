"""``portrait rfm-cutoffs PATH``: RFM cut-offs from the quantiles of a log's buyers.

The log goes through the pure profile model in memory (no Kafka, no Redis); every user's tags
are read as of one time; ``statistics.quantiles(data, n=5, method="inclusive")`` of the buyers'
``days_since_last_purchase``, ``orders_180d`` and ``spend_180d`` become ``profile.rfm``.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

from profiles.events import parse_moment
from profiles.model import ModelConfig, ProfileModel, State
from profiles.timeutil import rfc3339
from profiles.wire import decode
from streams.errors import CommandError, NotFound
from streams.ops.progress import ProgressLine
from streams.replay.sources import FORMATS, detect_format, scan

N = TypeVar("N", int, float)
Cuts = tuple[list[int], list[int], list[float]]  # recency_days, frequency_orders, monetary_spend
NAMES: Final = ("recency_days", "frequency_orders", "monetary_spend")


class CutoffsError(CommandError):
    """No cut-offs from this input (no such file, unknown format): exit 2."""


class Buyers(NamedTuple):
    """The RFM inputs of the users with a purchase as of ``as_of``; ``users``: all of them."""

    days: list[int]  # days_since_last_purchase
    orders: list[int]  # orders_180d
    spend: list[float]  # spend_180d
    users: int
    as_of: int


def profiles(
    path: Path, fmt: str = "auto", config: ModelConfig | None = None, *, progress: bool = True
) -> tuple[ProfileModel, dict[str, State], int | None]:
    """Every user's state after the log, and the newest event time (None: no event accepted)."""
    fmt, size = _format(path, fmt), max(1, path.stat().st_size)
    model, states = ProfileModel(config), dict[str, State]()
    newest: int | None = None
    rows = rejected = 0
    shown = ProgressLine(f"rfm-cutoffs {path.name}", enabled=progress)  # at most 4 lines/s
    for message, done in scan(path, fmt):
        rows += 1
        try:
            event = decode(message.value)
        except Exception:  # as a replay judges it: any refusal is a rejected row
            rejected += 1
            continue
        state = states.get(event.user_id)
        if state is None:
            state = states[event.user_id] = model.bare()
        model.apply_event(state, event)
        model.compact(state)  # a no-op until the user's day changes: keeps the dedupe bounded
        newest = event.ts if newest is None else max(newest, event.ts)
        shown.update(rows, done / size)
    shown.finish(f"{rows:,} rows, {rejected:,} rejected, {len(states):,} users")
    return model, states, newest


def buyers(model: ProfileModel, states: dict[str, State], as_of: int) -> Buyers:
    """The RFM inputs of the users who have purchased, read from their tags at ``as_of``."""
    found = Buyers([], [], [], len(states), as_of)
    for state in states.values():
        tags = model.tags(state, as_of)
        r, f, m = tags["days_since_last_purchase"], tags["orders_180d"], tags["spend_180d"]
        if r is None:
            continue  # no purchase
        assert isinstance(r, int) and isinstance(f, int) and isinstance(m, int | float)
        found.days.append(r)
        found.orders.append(f)
        found.spend.append(float(m))
    return found


def quintile_cuts(values: Sequence[float]) -> list[float]:
    """The 20/40/60/80 % quantiles, ``method="inclusive"``; one value is its own quantiles."""
    if len(values) == 1:  # Python < 3.13 refuses a single data point
        return [float(values[0])] * 4
    return statistics.quantiles(values, n=5, method="inclusive")


def cutoffs(found: Buyers) -> Cuts:
    """Each list 4 non-decreasing values, as ``RfmConfig`` takes them.

    Whole days and orders keep the scores of the quantiles exactly: R (``days <= cut``) floors
    a fractional cut, F (``orders >= cut``) takes its ceiling; spend is rounded to cents.
    """
    return (
        _ascending(quintile_cuts(found.days), math.floor),
        _ascending(quintile_cuts(found.orders), math.ceil),
        _ascending(quintile_cuts(found.spend), lambda q: round(q, 2)),
    )


def render(cuts: Cuts, found: Buyers) -> str:
    """The YAML to paste under ``profile:`` (indented for it), after one comment line."""
    days, orders, spend = cuts
    return (
        f"# rfm-cutoffs: {len(found.days):,} buyers of {found.users:,} users as of "
        f"{rfc3339(found.as_of)}; statistics.quantiles(n=5, method='inclusive')\n"
        "  rfm:\n"
        f"    recency_days: [{', '.join(map(str, days))}]\n"
        f"    frequency_orders: [{', '.join(map(str, orders))}]\n"
        f"    monetary_spend: [{', '.join(f'{v:.2f}' for v in spend)}]\n"
    )


def warnings(cuts: Cuts, found: Buyers) -> list[str]:
    """What makes the cut-offs say little: no spend at all; four equal cut-offs (a tie)."""
    out = []
    if not any(found.spend):
        out.append(
            "spend_180d is 0 for every buyer (a log without prices?): monetary_spend is all 0, "
            "which scores every buyer M = 5; keep your own monetary_spend"
        )
    lists: tuple[Sequence[float], ...] = cuts
    for name, cut in zip(NAMES, lists, strict=True):
        if cut[0] == cut[-1] and not (out and name == "monetary_spend"):
            out.append(f"the 4 {name} cut-offs tie at {cut[0]}: its score is only 1 or 5")
    return out


def rfm_cutoffs_main(
    path: Path, fmt: str = "auto", as_of: str | None = None, config: ModelConfig | None = None
) -> int:
    """``portrait rfm-cutoffs PATH [--format F] [--as-of TIME]``: 0; :class:`CutoffsError`
    (exit 2) for input it cannot read, :class:`NotFound` (exit 1) for a log without buyers."""
    as_of_ms = None if as_of is None else parse_moment(as_of)
    model, states, newest = profiles(path, fmt, config)
    found = buyers(model, states, as_of_ms if as_of_ms is not None else newest or 0)
    if not found.days:
        raise NotFound(f"{path}: no buyers (no user with a purchase), no cut-offs")
    cuts = cutoffs(found)
    for warning in warnings(cuts, found):
        print(f"portrait rfm-cutoffs: warning: {warning}", file=sys.stderr)
    sys.stdout.write(render(cuts, found))
    return 0


def _format(path: Path, fmt: str) -> str:
    if not path.is_file():
        raise CutoffsError(f"no such file: {path}")
    if fmt not in ("auto", *FORMATS):
        raise CutoffsError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    try:
        return detect_format(path) if fmt == "auto" else fmt
    except ValueError as exc:  # empty, or none of the formats
        raise CutoffsError(str(exc)) from exc


def _ascending(quantiles: Iterable[float], whole: Callable[[float], N]) -> list[N]:
    """Each quantile made a value of its kind, never below the one before (ties stay ties)."""
    return list(accumulate((whole(q) for q in quantiles), max))
