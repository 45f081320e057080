"""Process entry points: run the worker or the simulator until a signal, with a metrics port."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from streams.app.services import worker_services
from streams.errors import CommandError
from streams.names import TOPIC_EVENTS
from streams.ops.children import run_children
from streams.ops.health import serve as serve_with_probes
from streams.ops.worker_metrics import WorkerMetrics, serve
from streams.pipeline.gc_tuning import tune_gc
from streams.settings.tree import Settings

log = logging.getLogger("portrait")


def _on_stop_signals(callback: Callable[[], object]) -> None:
    """Call ``callback`` on SIGINT or SIGTERM, from the running event loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, callback)


async def run_worker(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    serve_metrics: bool = True,
) -> None:
    """Run an :class:`EventWorker` until ``stop`` is set or the worker crashes (re-raised)."""
    stop = stop or asyncio.Event()
    metrics = WorkerMetrics(registry)
    services = worker_services(settings, metrics)
    worker = services.worker
    try:
        if serve_metrics:  # a taken port ends here, its clients closed below
            port = serve_with_probes(metrics.registry, settings.metrics_port, health=worker.health)
            log.info("metrics on http://127.0.0.1:%d/metrics (probes /healthz, /readyz)", port)
        await services.start()
    except BaseException:
        await services.stop()
        await worker.close_clients()  # a failed start must not leak Kafka and Redis clients
        raise
    crashes = [asyncio.ensure_future(s._crashed.wait()) for s in services.all()]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({*crashes, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in (*crashes, stopped):
            waiting.cancel()
        await services.stop()
    for service in services.all():
        if service.crash_reason is not None:
            raise service.crash_reason


def run_worker_main(settings: Settings, *, show_changes: float | None = None) -> int:
    """``portrait worker``: 0 when stopped by a signal; a failure raises (streams.errors)."""
    if show_changes is not None:
        worker_cfg = dataclasses.replace(settings.worker, show_changes_per_s=show_changes)
        settings = dataclasses.replace(settings, worker=worker_cfg)

    async def main() -> None:
        stop = asyncio.Event()
        _on_stop_signals(stop.set)
        await run_worker(settings, stop=stop)

    tune_gc()
    asyncio.run(main())
    return 0


def run_worker_processes(settings: Settings, processes: int, *, show_changes: float | None) -> int:
    """``portrait worker --processes N``: N workers in one consumer group, one per core (each
    its own interpreter and GIL), until a signal or until one fails. Worker ``i`` serves its
    metrics on the metrics port plus ``i`` (0: each its own free port, logged); scrape them
    all, as Kubernetes scrapes one pod per worker (docs/operations.md, "Scaling out")."""
    argv = [sys.executable, "-m", "streams.app.cli", "worker"]
    if show_changes is not None:
        argv += ["--show-changes", str(show_changes)]
    base = settings.metrics_port
    if base and base + processes - 1 > 65535:
        raise CommandError(f"metrics ports {base}..{base + processes - 1} run past 65535")
    envs = [{**os.environ, "PORTRAIT_METRICS_PORT": str(base + i if base else 0)}
            for i in range(processes)]  # fmt: skip

    def started() -> None:
        log.info("portrait worker: %d processes in group %s", processes, settings.group_id)

    failed = run_children(argv, envs, started=started)
    if failed is not None:
        raise CommandError(f"a worker process exited with {failed}; its reason is above")
    return 0


async def _respond(settings: Settings, seed: int) -> None:
    """The simulated provider of ``portrait simulate --respond`` until cancelled."""
    from streams.sim.responder import DEMO_RESPONSES, Provider

    responses = dataclasses.replace(DEMO_RESPONSES, seed=seed)
    async with Provider(settings, responses) as provider:
        log.info("answering trigger messages as a simulated provider")
        await provider.serve()


def run_simulator_main(settings: Settings, args: argparse.Namespace) -> int:
    """``portrait simulate``: 0 when done or stopped; a failure raises (streams.errors)."""
    from streams.sim.simulate import SimulatorMetrics, run_simulation

    registry = CollectorRegistry()
    port = serve(registry, settings.metrics_port)
    log.info("simulator metrics on http://127.0.0.1:%d/metrics", port)

    async def main() -> None:
        task = asyncio.ensure_future(
            run_simulation(
                settings,
                users=args.users,
                rate=args.rate,
                duration_s=args.duration,
                seed=args.seed,
                bad_rate=args.bad_rate,
                observer=SimulatorMetrics(registry),
                time_scale=args.time_scale,
                topic=settings.topic(TOPIC_EVENTS),
            )
        )
        provider = asyncio.ensure_future(_respond(settings, args.seed)) if args.respond else None
        _on_stop_signals(task.cancel)
        try:
            sent = await task
            log.info("simulator sent %d events", sent)
        except asyncio.CancelledError:
            log.info("simulator stopped")
        finally:
            if provider is not None:
                provider.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await provider

    asyncio.run(main())
    return 0
