"""The fault suite, long: every scenario of tests/integration/faults/test_faults.py at full size.

    python -m bench.faults [--only kills,redis,pause,storm,cache] [--scale 1.0]

Starts its own embedded broker and Redis (the Redis-crash and broker-pause runs start their own
on top), runs each scenario in a fresh topic namespace, and prints one table: events, messages
sent, kills, restarts, users compared, users whose profile differs from the pure model applied
once, events lost, events doubled, reminders owed, lost and doubled. Progress goes to stderr.
Exit status 1 when any run lost or doubled anything. Takes 10-20 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from bench.progress import note
from bench.results import stop_cleanly_on_sigterm
from streams.app.embedded import Services, embedded_services
from streams.settings.tree import Settings
from tests.integration.faults.fault_checks import Load
from tests.integration.faults.fault_runs import (
    broker_pause,
    duplicate_storm,
    redis_crash,
    small_cache,
    worker_kills,
)
from tests.integration.faults.faults import Figures, fault_settings, figures_table

SCENARIOS = ("kills", "redis", "pause", "storm", "cache")
Run = Callable[[Settings, Path], Awaitable[Figures]]  # a scenario on fresh settings and a dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every event count")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.scale <= 0:
        p.error("--scale must be positive")
    return args


def plan(only: set[str], scale: float) -> list[tuple[str, Run]]:
    """The long scenarios, in order."""

    def n(events: int) -> int:
        return max(100, int(events * scale))

    out: list[tuple[str, Run]] = []
    if "kills" in only:
        kills = Load(users=3_000, events=n(60_000), rate=500, carts=60, delay_s=10)
        out.append(("kills", partial(worker_kills, load=kills, kills=10, note=note)))
    if "redis" in only:
        for fsync in ("everysec", "always"):
            load = Load(users=10_000, events=n(30_000), rate=1_000, carts=30, delay_s=5)
            crash = partial(redis_crash, load=load, fsync=fsync, crashes=3, note=note)
            out.append((f"redis {fsync}", crash))
    if "pause" in only:
        pause = Load(users=2_000, events=n(20_000), rate=400)
        out.append(("pause", partial(broker_pause, load=pause, pause_s=30, note=note)))
    if "storm" in only:
        storm = Load(users=2_000, events=n(30_000), rate=2_000)
        out.append(("storm", lambda s, _: duplicate_storm(s, storm, note=note)))
    if "cache" in only:
        for batch, events in ((1, 5_000), (7, 20_000)):
            load = Load(users=500, warm=10, events=n(events), rate=5_000)
            small = partial(_small_cache, load=load, batch=batch)
            out.append((f"cache, batches of {batch}", small))
    return out


async def _small_cache(settings: Settings, _: Path, load: Load, batch: int) -> Figures:
    return await small_cache(settings, load, cache=5, batch=batch, note=note)


async def run_all(services: Services, tmp: Path, only: set[str], scale: float) -> list[Figures]:
    """Each scenario in its own namespace (topics, group, users) and directory."""
    done: list[Figures] = []
    for i, (name, run) in enumerate(plan(only, scale)):
        note(f"{name}: starting")
        settings = fault_settings(
            services.kafka_bootstrap_servers,
            services.redis_url,
            namespace=f"f{uuid.uuid4().hex[:8]}.",
            partitions=8,
        )
        (tmp / str(i)).mkdir()
        try:
            figures = await run(settings, tmp / str(i))
        except Exception as exc:  # one broken run must not hide the others' figures
            figures = Figures(name, notes=[f"run failed: {exc!r}"[:300]])
            figures.differing.append("(run failed)")
        note(f"{name}: {figures.summary()} ({figures.seconds} s)")
        done.append(figures)
    return done


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stop_cleanly_on_sigterm()
    only = set(args.only.split(","))
    with (
        tempfile.TemporaryDirectory(prefix="portrait-faults-") as tmp,
        embedded_services(Path(tmp)) as services,
    ):
        figures = asyncio.run(run_all(services, Path(tmp), only, args.scale))
    print(figures_table(figures))
    return 0 if all(f.clean for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
