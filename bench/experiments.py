"""The experiment coverage study: does the report's interval hold the true uplift?

    python -m bench.experiments [--runs 200] [--users 400] [--seed 1000]

Starts its own embedded broker and Redis (or uses ``KAFKA_BOOTSTRAP_SERVERS`` and
``REDIS_URL``), then runs ``--runs`` seeded experiments on cart reminders through the real event
worker, scheduler, feedback service and a simulated provider whose users answer with known
probabilities (tests/integration/experiments/harness.py): every run's counts are compared with
its oracle, and each variant's interval (at 1 - alpha / variants, Bonferroni) with the true
uplift. Prints per variant the true uplift, the mean estimate, the mean interval width and the
share of runs whose interval held the truth (with its own 95 % Wilson interval); the target is
at least 95 %. Exit status 1 when a count differs from its oracle or coverage falls below 95 %.
Progress goes to stderr. About 1.5 s a run at 400 users.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import NormalDist, fmean

from bench.progress import Progress, note
from bench.results import stop_cleanly_on_sigterm
from streams.app.embedded import Services, embedded_services
from streams.settings.tree import Settings, TopicsConfig, WorkerConfig
from tests.integration.experiments.harness import Design, Lab, Run
from triggers.experiment_stats import wilson

TARGET = 0.95


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.experiments", description=__doc__.split("\n")[0]
    )
    p.add_argument("--runs", type=int, default=200, help="seeded experiments (default 200)")
    p.add_argument("--users", type=int, default=400, help="users per experiment (default 400)")
    p.add_argument("--seed", type=int, default=1000, help="the first run's seed")
    args = p.parse_args(argv)
    if args.runs < 1 or args.users < 10:
        p.error("--runs must be >= 1 and --users >= 10")
    return args


@contextmanager
def services() -> Iterator[Services]:
    bootstrap, redis_url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if bootstrap and redis_url:
        yield Services(bootstrap, redis_url)
        return
    with (
        tempfile.TemporaryDirectory(prefix="portrait-experiments-") as tmp,
        embedded_services(Path(tmp)) as found,
    ):
        yield found


async def study(found: Services, args: argparse.Namespace) -> list[Run]:
    namespace = f"x{uuid.uuid4().hex[:8]}."
    settings = Settings(
        kafka_bootstrap_servers=found.kafka_bootstrap_servers, redis_url=found.redis_url,
        metrics_port=0, topics=TopicsConfig(partitions=4, prefix=namespace),
        worker=WorkerConfig(poll_timeout_ms=50, redis_retry_initial_ms=50, redis_retry_max_ms=500),
    )  # fmt: skip
    lab, design = Lab(settings, namespace), Design(users=args.users)
    progress = Progress("experiments", args.runs)
    runs: list[Run] = []
    async with lab.running(design, seed=args.seed):
        for seed in range(args.seed, args.seed + args.runs):
            runs.append(await lab.run(design, seed=seed))
            progress.update(len(runs), force=len(runs) == args.runs)
    return runs


def table(runs: list[Run], users: int, seconds: float) -> tuple[str, bool]:
    """The coverage table, and whether every count matched and coverage met the target."""
    exact = sum(
        all({k: r.arms()[a][k] for k in want} == want for a, want in r.oracle.items()) for r in runs
    )
    z = NormalDist().inv_cdf(0.975)
    lines = [
        f"{len(runs)} seeded experiments of {users} users (holdout 30 %, two variants), "
        f"{seconds:.0f} s; counts equal to the oracle in {exact} of {len(runs)} runs",
        "| variant | true uplift | mean estimate | mean interval width | interval held the truth "
        "| 95 % interval of that share |",
        "|---|---|---|---|---|---|",
    ]
    ok = exact == len(runs)
    for arm in runs[0].truth:
        held = sum(r.covered()[arm] for r in runs)
        ups = [r.arms()[arm]["uplift"] for r in runs]
        low, high = wilson(held, len(runs), z)
        ok &= held / len(runs) >= TARGET
        lines.append(
            f"| {arm} | {100 * runs[0].truth[arm]:+.2f} pts "
            f"| {100 * fmean(u['diff'] for u in ups):+.2f} pts "
            f"| {100 * fmean(u['high'] - u['low'] for u in ups):.2f} pts "
            f"| {held}/{len(runs)} = {100 * held / len(runs):.1f} % "
            f"| {100 * low:.1f} - {100 * high:.1f} % |"
        )
    level = 100 * runs[0].report["interval"]
    lines.append(f"intervals at {level:.1f} % each (alpha 0.05 / 2 variants); target >= 95 %")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stop_cleanly_on_sigterm()
    started = time.monotonic()
    with services() as found:
        note(f"running {args.runs} experiments of {args.users} users")
        runs = asyncio.run(study(found, args))
    text, ok = table(runs, args.users, time.monotonic() - started)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
