"""``portrait replay PATH``: a historical event log through the worker's own pipeline.

:func:`replay` checks the log, reads it (:class:`~streams.replay.sources.Feed`) and hands it to a
mode:
``via="direct"`` (default, :mod:`streams.replay.direct`) needs no Kafka: the worker's batch
processor applies the log straight to Redis, fenced so that a re-run is a no-op and an
interrupted run resumes; ``via="kafka"`` (:mod:`streams.replay.kafka`) produces the messages to
the events topic for a running ``portrait worker``. The clock is stream time (the newest event
time replayed so far), never wall-clock. :func:`replay_main` is the command line around it.
docs/replay.md is the user's side of all this.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.ops.progress import ProgressLine
from streams.ops.worker_metrics import serve
from streams.pipeline.gc_tuning import tune_gc
from streams.replay.adapters import Message
from streams.replay.direct import direct, fence_id
from streams.replay.kafka import produce
from streams.replay.progress import RejectLog, ReplayMetrics
from streams.replay.run import ReplayError, ReplayResult, Run, report, summary
from streams.replay.sources import FORMATS, Feed, detect_format
from streams.settings.profile import load_price_reference
from streams.settings.tree import Settings

VIAS = ("direct", "kafka")


async def replay(
    settings: Settings,
    path: Path,
    *,
    fmt: str = "auto",
    via: str = "direct",
    sort: bool = False,
    progress: bool = True,
    price_reference: Mapping[str, float] | None = None,
    registry: CollectorRegistry | None = None,
    rejected_to: Path | None = None,
    emit_changes: bool = False,
) -> ReplayResult:
    """Replay the log at ``path``; :class:`ReplayError` when it cannot start."""
    started = time.perf_counter()
    fmt = _check(path, fmt, via, price_reference)
    try:
        rejects = RejectLog(rejected_to)
    except OSError as exc:
        raise ReplayError(f"cannot write {rejected_to}: {exc.strerror}") from exc
    on_reject = _on_reject(rejects) if via == "kafka" else None  # direct: the processor's
    run = Run(
        Feed(path, fmt, sort=sort, on_reject=on_reject),
        ReplayResult(),
        ProgressLine(f"replay {path.name}", enabled=progress),
        ReplayMetrics(registry),
    )
    try:
        if via == "direct":
            fence = fence_id(path, fmt, sort)
            await direct(settings, run, fence, rejects, price_reference, emit_changes)
        else:
            await produce(settings, run, emit_changes)
    finally:
        rejects.close()
    result, feed = run.result, run.feed
    result.rejected, result.examples = rejects.reasons, rejects.examples
    result.users, result.first_ts, result.last_ts = len(feed.users), feed.first_ts, feed.last_ts
    result.seconds = time.perf_counter() - started
    run.shown.finish(summary(result, via))
    return result


def _on_reject(rejects: RejectLog) -> Callable[[Message, Exception], None]:
    return lambda message, exc: rejects.add_error(message.line, message.value, exc)


def _check(path: Path, fmt: str, via: str, table: Mapping[str, float] | None) -> str:
    """The format to read ``path`` with; ReplayError for what cannot work."""
    if via not in VIAS:
        raise ReplayError(f"unknown mode {via!r}; expected one of {', '.join(VIAS)}")
    if via == "kafka" and table is not None:
        raise ReplayError(
            "a price reference applies to direct replays; a worker reads "
            "profile.price_reference from its own configuration"
        )
    if not path.is_file():
        raise ReplayError(f"no such file: {path}")
    if fmt == "auto":
        try:
            return detect_format(path)
        except (ValueError, OSError) as exc:
            raise ReplayError(str(exc)) from exc
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    return fmt


def replay_main(settings: Settings, args: argparse.Namespace) -> int:
    """``portrait replay PATH ...``: 0 when replayed (rejected rows are reported); what stops
    it raises (:class:`ReplayError` and the others streams.errors words: exit 2)."""
    path = Path(args.path)
    try:
        table = load_price_reference(Path(args.price_reference)) if args.price_reference else None
    except ValueError as exc:
        raise ReplayError(str(exc)) from exc
    registry = CollectorRegistry()
    if "PORTRAIT_METRICS_PORT" in os.environ:
        port = serve(registry, settings.metrics_port)
        print(f"# metrics on http://127.0.0.1:{port}/metrics", file=sys.stderr)
    tune_gc()
    result = asyncio.run(
        replay(settings, path, fmt=args.format, via=args.via, sort=args.sort,
               progress=not args.quiet, price_reference=table, registry=registry,
               rejected_to=Path(args.rejected) if args.rejected else None,
               emit_changes=args.emit_changes)
    )  # fmt: skip
    print(report(result, path, args.via))
    return 0
