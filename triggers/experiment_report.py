"""The report of one experiment (pure): per arm its users, messages, feedback, cost, outcome and
uplift over the holdout, and the decision hint (docs/experiments.md).

The caller walks the experiment's ledger oldest exposure first and hands each user to
:meth:`Tally.add`; the user's outcome counts once the outcome window has closed
(triggers/experiment_outcome.py). The decision is taken on each arm's first ``horizon``
measured users in exposure order, so that later users never move a decision once taken (looking
again on more users is peeking too); the uplift rows show every measured user.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Final

from triggers.config import HOLDOUT, Experiment
from triggers.experiment_stats import Arm, decision, uplift
from triggers.experiments import split

REPORT_VERSION: Final = 1
STATUSES: Final = ("delivered", "opened", "clicked", "converted")


@dataclass(slots=True)
class ArmTally:
    name: str
    users: int = 0  # assigned (exposed)
    waiting: int = 0  # ... whose outcome window is still open
    measured: int = 0  # ... whose window closed
    outcomes: int = 0  # ... of them converted (or recalled)
    outcomes_in_order: list[bool] = field(default_factory=list)  # by exposure, measured users
    reached: int = 0  # users sent at least one message
    sent: Counter[str] = field(default_factory=Counter)  # messages by channel
    feedback: Counter[str] = field(default_factory=Counter)  # by status

    def cost(self, prices: dict[str, float]) -> float:
        return sum(prices.get(ch, 0.0) * n for ch, n in self.sent.items())

    def arm(self, first: int | None = None) -> Arm:
        if first is None:
            return Arm(self.name, self.measured, self.outcomes)
        head = self.outcomes_in_order[:first]
        return Arm(self.name, len(head), sum(head))


class Tally:
    """Every arm of one experiment, filled user by user in exposure order."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        names = [HOLDOUT, *(v.name for v in experiment.variants)]
        self.arms: dict[str, ArmTally] = {n: ArmTally(n) for n in names}
        self.retired = 0  # users in an arm the experiment no longer has
        self.erased = 0  # ledger members whose record is gone (erased)

    def add(self, arm: str | None, counts: dict[str, int], outcome: bool | None) -> None:
        """One user: their arm (None: erased), their counts (``sent:<channel>``, statuses) and
        outcome (None: the window is still open)."""
        if arm is None:
            self.erased += 1
            return
        tally = self.arms.get(arm)
        if tally is None:
            self.retired += 1
            return
        tally.users += 1
        if outcome is None:
            tally.waiting += 1
        else:
            tally.measured += 1
            tally.outcomes += outcome
            tally.outcomes_in_order.append(outcome)
        sent = {k.partition(":")[2]: n for k, n in counts.items() if k.startswith("sent:")}
        tally.sent.update(sent)
        tally.reached += any(sent.values())
        tally.feedback.update({s: counts.get(s, 0) for s in STATUSES})

    def report(self, prices: dict[str, float], as_of: str) -> dict[str, Any]:
        """The report as JSON-ready data (version :data:`REPORT_VERSION`)."""
        e = self.experiment
        holdout = self.arms[HOLDOUT]
        variants = [self.arms[v.name] for v in e.variants]
        first = decision([a.arm() for a in variants], holdout.arm(), e).horizon
        frozen = [a.arm(first) for a in variants]
        # decided at that horizon: re-deriving it from the first users' holdout alone could ask
        # for more users than were cut, and keep the verdict at keep_running for good
        hint = decision(frozen, holdout.arm(first), replace(e, horizon=first))
        alpha = e.alpha / len(variants)
        shares = split(e)
        rows = []
        for tally in (holdout, *variants):
            row = _row(tally, prices, shares[tally.name])
            if tally.name != HOLDOUT:
                u = uplift(tally.arm(), holdout.arm(), alpha)
                row["uplift"] = {"diff": u.diff, "low": u.low, "high": u.high,
                                 "relative": u.relative, "p": u.p}  # fmt: skip
            rows.append(row)
        return {
            "version": REPORT_VERSION,
            "experiment": e.name,
            "kinds": sorted(e.kinds),
            "campaigns": sorted(e.campaigns),
            "metric": e.metric,
            "window_days": e.window_days,
            "as_of": as_of,
            "interval": 1 - alpha,
            "arms": rows,
            "retired": self.retired,
            "erased": self.erased,
            "decision": {
                "verdict": hint.verdict,
                "text": hint.text,
                "horizon": hint.horizon,
                "variant": hint.variant,
            },
        }


def _row(t: ArmTally, prices: dict[str, float], share: float) -> dict[str, Any]:
    cost = t.cost(prices)
    return {
        "arm": t.name,
        "share": share,
        "users": t.users,
        "waiting": t.waiting,
        "measured": t.measured,
        "outcomes": t.outcomes,
        "rate": t.outcomes / t.measured if t.measured else None,
        "reached": t.reached,
        "sent": sum(t.sent.values()),
        "sent_by_channel": dict(sorted(t.sent.items())),
        **{s: t.feedback[s] for s in STATUSES},
        "click_rate": t.feedback["clicked"] / sum(t.sent.values()) if t.sent else None,
        "cost": round(cost, 6),
        "cost_per_outcome": round(cost / t.outcomes, 6) if t.outcomes else None,
    }


_COLUMNS: Final = (
    ("arm", "arm"), ("users", "users"), ("waiting", "waiting"), ("measured", "measured"),
    ("outcomes", "{metric}"), ("rate", "rate"), ("sent", "sent"), ("delivered", "delivered"),
    ("opened", "opened"), ("clicked", "clicked"), ("converted", "fb conv"), ("cost", "cost"),
    ("uplift", "uplift over holdout [interval]"),
)  # fmt: skip


def text(report: dict[str, Any]) -> str:
    """The report as a plain-text table and the decision paragraph."""
    head = [label.format(metric=report["metric"]) for _, label in _COLUMNS]
    rows = [[_cell(key, row) for key, _ in _COLUMNS] for row in report["arms"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        f"experiment {report['experiment']} ({', '.join(report['kinds'] + report['campaigns'])}"
        f"): {report['metric']} within {report['window_days']} days of exposure, "
        f"as of {report['as_of']}",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if report["retired"] or report["erased"]:
        lines.append(f"left out: {report['retired']} in retired arms, "
                     f"{report['erased']} erased")  # fmt: skip
    lines.append(f"decision ({report['decision']['verdict']}): {report['decision']['text']}")
    return "\n".join(lines)


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row.get(key)
    if key == "rate":
        return "-" if value is None else f"{100 * value:.2f} %"
    if key == "cost":
        return f"{value:.2f}"
    if key == "uplift":
        if value is None:
            return "(baseline)"
        return (f"{100 * value['diff']:+.2f} pts [{100 * value['low']:+.2f}, "
                f"{100 * value['high']:+.2f}]")  # fmt: skip
    return f"{value:,}" if isinstance(value, int) else str(value)
