"""Trigger experiments: variants of a trigger kind or campaign, a holdout, and who gets which.

An experiment names trigger kinds, campaign ids, or both; each trigger it applies to goes out in
the variant assigned to its user (a channel, a copy, a send-time policy), except for the holdout
share, which receives nothing so that the uplift of every variant can be measured against doing
nothing (triggers/experiment_stats.py). Written in the config as a list of mappings::

    - name: cart_copy_2024
      kinds: [cart_reminder]            # and/or campaigns: [spring-sale.2024]
      holdout: 0.1                      # 0 .. 0.5 of the users receive nothing
      variants:
        - {name: plain, weight: 1}
        - {name: urgent, weight: 1, copy: cart_urgent, send_time: active_hour}
        - {name: sms_at_8, weight: 2, channel: sms, send_time: fixed_hour, hour: 8}
      metric: converted                 # or recalled (win_back only); mde, alpha, power, horizon
      window_days: 7                    # outcomes counted from exposure to the end of day +7

Assignment is a pure function of the experiment's name and the user id (:func:`assign`), so every
worker, the report and a rerun agree without storing anything first; the wiring records the arm
in the trigger message and the profile, and a recorded arm wins over a recomputed one.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, NoReturn

from profiles.rules.catalogue import unknown
from triggers.config import CHANNELS, HOLDOUT, KINDS, Experiment, Metric, SendTime, Variant
from triggers.model import Trigger

__all__ = ["HOLDOUT", "Experiment", "ExperimentError", "Metric", "SendTime", "Variant", "assign",
           "enrol", "find", "named", "parse_experiments", "split"]  # fmt: skip

SEND_TIMES: Final = ("now", "active_hour", "fixed_hour")
METRICS: Final = ("converted", "recalled")
MAX_HOLDOUT: Final = 0.5
# the profile keeps 180 days of day buckets (profiles/aggregators.py): a window must end well inside
MAX_WINDOW_DAYS: Final = 90
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CAMPAIGN: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a campaign_id (triggers/campaign.py)


class ExperimentError(ValueError):
    """A bad experiment definition: one line, ``experiments[0].variants[1].hour: message``."""


def find(experiments: tuple[Experiment, ...], kind: str, campaign: str | None) -> Experiment | None:
    """The experiment a trigger belongs to; parsing makes sure there is at most one."""
    return next((e for e in experiments if e.applies(kind, campaign)), None)


def enrol(trigger: Trigger, experiment: Experiment, arm: str) -> Trigger:
    """The trigger in ``arm`` (the user's recorded arm): marked with it, and with the arm's
    send-time policy; channel and copy are applied when it is sent (triggers/policy.py)."""
    t = replace(trigger, arm=(experiment.name, arm))
    variant = experiment.variant(arm)
    if variant is None or variant.send_time is None:
        return t
    if variant.send_time == "fixed_hour":
        return replace(t, at_active_hour=False, at_hour=variant.hour)
    return replace(t, at_active_hour=variant.send_time == "active_hour", at_hour=None)


def named(experiments: tuple[Experiment, ...], name: str) -> Experiment | None:
    """The experiment called ``name``; None when the configuration no longer has it."""
    return next((e for e in experiments if e.name == name), None)


def _unit(*parts: str) -> float:
    """A uniform number in [0, 1) from the first 8 bytes of sha256 of the parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, user_id: str) -> str:
    """The user's arm: :data:`HOLDOUT` or a variant's name, the same on every call.

    ``u = sha256(name \\x1f user)[:8] / 2**64``; the user is in the holdout when
    ``u < holdout``. Otherwise the variant is drawn by weighted rendezvous hashing from separate
    hashes: each variant scores ``-ln(v_i) / weight_i`` with ``v_i`` from
    ``sha256(name \\x1f user \\x1f variant)`` and the lowest score wins, which picks variant
    ``i`` with probability ``weight_i / sum(weights)``.

    Why not cumulative weights over ``(u - holdout) / (1 - holdout)``: rescaling ``u`` shifts
    every boundary when the holdout changes (0.1 -> 0.2 with two equal variants also moves 5 %
    of the users from the second variant to the first), and appending a variant shrinks every
    interval (each earlier boundary moves). With the variant drawn apart from ``u``:

    - raising the holdout moves users only into the holdout (those with ``u`` in the new band),
      from every variant in proportion; lowering it moves only holdout users out;
    - appending a variant (or raising one's weight) moves users only into it, as many as its
      new share; removing one (or lowering its weight) moves only its users out;
    - renaming a variant or the experiment reshuffles everyone (the names are hashed).
    """
    if _unit(experiment.name, user_id) < experiment.holdout:
        return HOLDOUT
    best, best_score = experiment.variants[0].name, math.inf
    for variant in experiment.variants:
        v = _unit(experiment.name, user_id, variant.name) + 2.0**-65  # (0, 1): ln is finite
        score = -math.log(v) / variant.weight
        if score < best_score:
            best, best_score = variant.name, score
    return best


def split(experiment: Experiment) -> dict[str, float]:
    """The expected share of the users per arm (holdout first); the shares sum to 1."""
    total = sum(v.weight for v in experiment.variants)
    rest = 1.0 - experiment.holdout
    shares = {HOLDOUT: experiment.holdout}
    shares.update({v.name: rest * v.weight / total for v in experiment.variants})
    return shares


_EXPERIMENT_KEYS: Final = (
    "name", "kinds", "campaigns", "holdout", "variants", "metric", "mde", "alpha", "power",
    "horizon", "window_days",
)  # fmt: skip
_VARIANT_KEYS: Final = ("name", "weight", "channel", "copy", "send_time", "hour")


def parse_experiments(data: object, where: str = "experiments") -> tuple[Experiment, ...]:
    """The experiments of a YAML list of mappings, or an :class:`ExperimentError` naming where.

    Besides each field's own range, a trigger may take part in one experiment at most (two
    would each see the other's variants as noise, and the send-time policies would conflict),
    so two experiments may not share a kind or a campaign, nor may one name kind ``campaign``
    (every campaign) while another names a campaign.
    """
    if data is None:
        return ()
    if not isinstance(data, list):
        _fail(where, f"expected a list of experiments, got {type(data).__name__}")
    experiments: list[Experiment] = []
    owner: dict[str, str] = {}  # "kinds:cart_reminder" / "campaigns:<id>" -> experiment name
    for i, raw in enumerate(data):
        path = f"{where}[{i}]"
        experiment = _experiment(raw, path)
        if any(e.name == experiment.name for e in experiments):
            _fail(f"{path}.name", f"duplicate experiment name {experiment.name!r}")
        _claim(owner, experiment, path)
        experiments.append(experiment)
    return tuple(experiments)


def _claim(owner: dict[str, str], experiment: Experiment, path: str) -> None:
    for field, values in (("kinds", experiment.kinds), ("campaigns", experiment.campaigns)):
        for value in sorted(values):
            other = owner.get(f"{field}:{value}")
            if field == "campaigns":  # kind campaign takes every campaign
                other = other or owner.get("kinds:campaign")
            elif value == "campaign":
                other = other or next(
                    (n for k, n in owner.items() if k.startswith("campaigns:")), None
                )
            if other not in (None, experiment.name):
                _fail(f"{path}.{field}", f"{value!r} is already in experiment {other!r}; "
                      "a trigger takes part in one experiment at most")  # fmt: skip
            owner[f"{field}:{value}"] = experiment.name


def _experiment(raw: object, path: str) -> Experiment:
    m = _mapping(raw, path, _EXPERIMENT_KEYS, ("name", "holdout", "variants"))
    kinds = _strings(m.get("kinds"), f"{path}.kinds")
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            _fail(f"{path}.kinds[{i}]", unknown("trigger kind", kind, KINDS))
    campaigns = _strings(m.get("campaigns"), f"{path}.campaigns")
    for i, campaign in enumerate(campaigns):
        if not _CAMPAIGN.fullmatch(campaign):
            _fail(f"{path}.campaigns[{i}]", f"{campaign!r} is not a campaign_id")
    if not kinds and not campaigns:
        _fail(path, "names no trigger: give kinds, campaigns or both")
    holdout = _number(m["holdout"], f"{path}.holdout")
    if not 0 <= holdout <= MAX_HOLDOUT:
        _fail(f"{path}.holdout", f"must be between 0 and {MAX_HOLDOUT:g}, got {holdout:g}")
    metric = m.get("metric", "converted")
    if metric not in METRICS:
        _fail(f"{path}.metric", unknown("metric", metric, METRICS))
    if metric == "recalled" and (campaigns or set(kinds) != {"win_back"}):
        _fail(f"{path}.metric", "recalled is measured for win_back only (docs/feedback.md)")
    rates = {}
    for key, default, high in (("mde", 0.02, 1.0), ("alpha", 0.05, 0.5), ("power", 0.8, 1.0)):
        rates[key] = _number(m.get(key, default), f"{path}.{key}")
        if not 0 < rates[key] < high:
            _fail(f"{path}.{key}", f"must be above 0 and below {high:g}, got {rates[key]:g}")
    horizon = m.get("horizon")
    if horizon is not None and (type(horizon) is not int or horizon < 1):
        _fail(f"{path}.horizon", f"expected a whole number of users >= 1, got {horizon!r}")
    window = m.get("window_days", 7)
    if type(window) is not int or not 0 <= window <= MAX_WINDOW_DAYS:
        _fail(f"{path}.window_days", f"expected whole days 0..{MAX_WINDOW_DAYS}, got {window!r}")
    return Experiment(
        _name(m["name"], f"{path}.name"), frozenset(kinds), frozenset(campaigns), holdout,
        _variants(m["variants"], f"{path}.variants"), metric, rates["mde"], rates["alpha"],
        rates["power"], horizon, window,
    )  # fmt: skip


def _variants(raw: object, path: str) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(path, "expected a list of at least one variant")
    variants: list[Variant] = []
    for i, item in enumerate(raw):
        at = f"{path}[{i}]"
        m = _mapping(item, at, _VARIANT_KEYS, ("name", "weight"))
        name = _name(m["name"], f"{at}.name")
        if name == HOLDOUT:
            _fail(f"{at}.name", f"{HOLDOUT!r} is the arm that receives nothing; choose another")
        if any(v.name == name for v in variants):
            _fail(f"{at}.name", f"duplicate variant name {name!r}")
        weight = _number(m["weight"], f"{at}.weight")
        if weight <= 0:
            _fail(f"{at}.weight", f"must be above 0, got {weight:g}")
        channel, copy, send_time = m.get("channel"), m.get("copy"), m.get("send_time")
        if channel is not None and channel not in CHANNELS:
            _fail(f"{at}.channel", unknown("channel", channel, CHANNELS))
        if copy is not None and (not isinstance(copy, str) or not copy):
            _fail(f"{at}.copy", f"expected a non-empty string, got {copy!r}")
        if send_time is not None and send_time not in SEND_TIMES:
            _fail(f"{at}.send_time", unknown("send_time", send_time, SEND_TIMES))
        hour = m.get("hour")
        if send_time == "fixed_hour" and (type(hour) is not int or not 0 <= hour <= 23):
            _fail(f"{at}.hour", f"send_time fixed_hour needs an hour 0..23, got {hour!r}")
        if send_time != "fixed_hour" and hour is not None:
            _fail(f"{at}.hour", "an hour goes with send_time fixed_hour only")
        variants.append(Variant(name, weight, channel, copy, send_time, hour))
    return tuple(variants)


def _fail(path: str, message: str) -> NoReturn:
    raise ExperimentError(f"{path}: {message}")


def _mapping(
    raw: object, path: str, keys: tuple[str, ...], required: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        _fail(path, f"expected a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in keys:
            _fail(path, unknown("key", key, keys))
    for key in required:
        if key not in raw:
            _fail(f"{path}.{key}", "missing")
    return raw


def _name(raw: object, path: str) -> str:
    if not isinstance(raw, str) or not _NAME.fullmatch(raw):
        _fail(path, f"{raw!r} is not a name: a lower-case letter, then up to 63 of a-z 0-9 _")
    return raw


def _strings(raw: object, path: str) -> list[str]:
    values = [raw] if isinstance(raw, str) else [] if raw is None else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        _fail(path, f"expected a name or a list of names, got {raw!r}")
    return values


def _number(raw: object, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        _fail(path, f"expected a number, got {raw!r}")
    return float(raw)
