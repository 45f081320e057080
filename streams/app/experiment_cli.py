"""``portrait experiment list`` and ``portrait experiment report NAME [--as-of T] [--json]``.

The experiments are the ``triggers.experiments`` of the configuration (docs/experiments.md);
the report walks the experiment's ledger in Redis with a progress line and prints per arm the
users, messages, feedback, cost and outcome with the uplift over the holdout, and the decision
hint of the fixed-horizon test (triggers/experiment_report.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from streams.app.argtypes import moment
from streams.app.read import parse_as_of, report_main
from streams.errors import NotFound
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings
from triggers.config import Experiment
from triggers.experiments import named, split


def add_parser(sub: Any) -> None:
    experiment = sub.add_parser("experiment", help="A/B tests of triggers: list, report")
    verbs = experiment.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="the configured experiments and their split")
    report = verbs.add_parser("report", help="per arm: users, sent, feedback, cost, uplift")
    report.add_argument("name", help="an experiment of triggers.experiments")
    report.add_argument("--as-of", type=moment, help="outcomes as of (default: now)")
    report.add_argument("--json", action="store_true", help="the report as JSON")
    report.add_argument("--quiet", action="store_true", help="no progress line")


def experiment_main(settings: Settings, args: argparse.Namespace) -> int:
    experiments = settings.triggers.experiments
    if args.verb == "list":
        for e in experiments:
            arms = ", ".join(f"{n} {100 * s:.3g} %" for n, s in split(e).items())
            on = ", ".join(sorted(e.kinds) + sorted(e.campaigns))
            print(f"{e.name}: {on}; {e.metric} within {e.window_days} days; {arms}")
        if not experiments:
            print("no experiments configured (triggers.experiments)", file=sys.stderr)
        return 0
    experiment = _find(experiments, args.name)
    as_of_ms = parse_as_of(args.as_of)
    line = ProgressLine(f"portrait experiment report {experiment.name}", enabled=not args.quiet)

    def progress(done: int, total: int) -> None:
        line.status(f"{line.label}: {done:,} of {total:,} users", done=done)

    async def read(redis: Redis) -> dict[str, Any]:
        from streams.experiments.report import read_report

        prices, ns = dict(settings.triggers.cost), settings.topics.prefix
        return await read_report(redis, ns, experiment, prices, as_of_ms, progress)

    return report_main(settings, line, read, args.json, _text)


def _text(report: Mapping[str, Any]) -> str:
    from triggers.experiment_report import text

    return text(dict(report))


def _find(experiments: tuple[Experiment, ...], name: str) -> Experiment:
    found = named(experiments, name)
    if found is not None:
        return found
    known = ", ".join(e.name for e in experiments) or "none is configured"
    raise NotFound(f"no experiment {name!r} in triggers.experiments ({known})")
