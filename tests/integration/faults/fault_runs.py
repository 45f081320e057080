"""The fault scenarios, each a coroutine returning its :class:`Figures`; the tests run them small,
``make faults`` (bench/faults.py) runs them long. Each compares every user's stored profile with
the pure model applied once to the same events (tests/integration/faults/fault_checks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from profiles.model import ProfileModel
from streams.settings.tree import Settings
from tests.integration.faults.fault_checks import (
    Event,
    Load,
    compare,
    count_reminders,
    late_copies,
    not_a_prefix,
    reminder_config,
    storm,
)
from tests.integration.faults.faults import (
    AofRedis,
    Figures,
    Note,
    PausableBroker,
    Stream,
    quiet,
    wait_consumed,
)
from tests.integration.helpers import load_states, metric, running_worker, wait_until
from tests.integration.processes import WorkerProcess
from tests.integration.triggers.trigger_helpers import (
    due_slots,
    pending,
    read_messages,
    with_triggers,
)

DRAIN_S = 180.0  # the longest a run waits for the group to commit the whole stream


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[CollectorRegistry]:
    """A worker in this event loop that owns every partition: a stream sent from now on is
    read as it flows, in many batches, not as one backlog."""
    async with running_worker(settings) as registry:

        async def assigned() -> bool:
            owned = metric(registry, "portrait_assigned_partitions")
            return owned == settings.topics.partitions

        await wait_until(assigned, within=60, what="the worker owning every partition")
        yield registry


async def _finish(
    settings: Settings,
    figures: Figures,
    events: Sequence[Event],
    stream: Stream,
    carts: Sequence[str],
    started: float,
    note: Note,
) -> None:
    """Wait for the stream to be committed and the reminders sent; count what was stored."""
    await wait_consumed(settings, stream, DRAIN_S)
    note(f"  all {stream.sent} messages committed after {time.monotonic() - started:.0f} s")
    if carts:
        sent = await read_messages(settings, expect=len(carts), within=60, settle=3)
        count_reminders(figures, carts, sent)
        await _why_lost(settings, figures, set(carts) - {m["user_id"] for m in sent})
        note(f"  {len(sent)} trigger messages read after {time.monotonic() - started:.0f} s")
    await asyncio.sleep(1.0)  # anything applied twice late would show now
    figures.sent = stream.sent
    users = sorted({e["user_id"] for e in events})
    stored = await load_states(settings, users)
    note(f"  {len(stored)} profiles loaded after {time.monotonic() - started:.0f} s")
    compare(figures, events, stored, ProfileModel(settings.model))
    figures.seconds = round(time.monotonic() - started, 1)


async def _why_lost(settings: Settings, figures: Figures, users: set[str]) -> None:
    """For the carts owed a reminder never sent: what Redis still holds of it."""
    for user in sorted(users)[:5]:
        found = await pending(settings, user)
        due = await due_slots(settings, user)
        reminder = found.get("cart_reminder")
        state = f"pending, due {reminder.due_at}" if reminder else "not pending"
        figures.notes.append(f"{user}: reminder {state}, due index {due or 'empty'}")


async def worker_kills(
    settings: Settings, tmp: Path, load: Load, kills: int, workers: int = 3, note: Note = quiet
) -> Figures:
    """``workers`` `portrait worker` processes in one group; a random one SIGKILLed ``kills``
    times while the stream flows, each restarted at once."""
    figures, started = Figures(f"{workers} workers, SIGKILL x{kills}"), time.monotonic()
    raw = reminder_config(load.delay_s)
    settings = with_triggers(settings, raw)
    events, carts = load.messages(settings.topics.prefix)
    procs = [WorkerProcess(settings, tmp, {"triggers": raw}, name=str(i)) for i in range(workers)]
    rng = random.Random(load.seed)
    stream = Stream(settings, events, load.rate)
    for proc in procs:
        proc.start()
    producing = asyncio.ensure_future(stream.run())
    try:
        for k in range(kills):
            await stream.reached(0.9 * (k + 0.2 + 0.6 * rng.random()) / kills)
            assert not stream.done, "a kill must land while events stream in"
            victim = rng.randrange(workers)
            procs[victim].kill()
            figures.kills += 1
            note(f"  killed worker {victim} at {stream.sent}/{len(events)} sent")
            await asyncio.sleep(0.2)
            procs[victim].start()
            figures.restarts += 1
        await producing
        await _finish(settings, figures, events, stream, carts, started, note)
    finally:
        producing.cancel()
        for proc in procs:
            _stop(proc, figures)
    return figures


async def redis_crash(
    settings: Settings, tmp: Path, load: Load, fsync: str, crashes: int = 1, note: Note = quiet
) -> Figures:
    """Redis with AOF (``appendfsync fsync``) SIGKILLed mid-stream and restarted on the same port
    and directory ``crashes`` times under a `portrait worker`; notes the users whose profile is
    not even a prefix of their events (a lost write may cost only the latest ones)."""
    figures, started = Figures(f"Redis AOF {fsync}, SIGKILL x{crashes}"), time.monotonic()
    (tmp / fsync).mkdir(exist_ok=True)
    redis = AofRedis(fsync, log_dir=tmp / fsync)
    await asyncio.to_thread(redis.start)
    raw = reminder_config(load.delay_s)
    settings = with_triggers(dataclasses.replace(settings, redis_url=redis.url), raw)
    events, carts = load.messages(settings.topics.prefix)
    stream = Stream(settings, events, load.rate)
    worker = WorkerProcess(settings, tmp, {"triggers": raw, "worker": _RETRY_FAST}, name=fsync)
    worker.start()
    await worker.ready()  # the crashes must meet a running worker, not its start-up checks
    producing = asyncio.ensure_future(stream.run())
    try:
        for k in range(crashes):
            await stream.reached((k + 0.5) / crashes)
            assert not stream.done, "a crash must land while events stream in"
            redis.crash()
            figures.kills += 1
            note(f"  killed Redis at {stream.sent}/{len(events)} sent")
            await asyncio.sleep(1.0)
            await asyncio.to_thread(redis.start)
            figures.restarts += 1
        await producing
        await _finish(settings, figures, events, stream, carts, started, note)
        stored = await load_states(settings, figures.differing)
        wrong = not_a_prefix(events, stored, ProfileModel(settings.model), figures.differing)
        figures.notes.append(f"{len(wrong)} users not a prefix of their events")
    finally:
        producing.cancel()
        _stop(worker, figures)
        redis.stop()
    return figures


# a `portrait worker` of the fault runs: small batches, short Redis retries
_RETRY_FAST = {"batch_max_records": 300, "poll_timeout_ms": 50, "redis_retry_max_ms": 500}


def _stop(worker: WorkerProcess, figures: Figures) -> None:
    """SIGTERM; a worker that does not exit within the grace period is noted, then killed."""
    try:
        worker.stop()
    except subprocess.TimeoutExpired:
        figures.notes.append(f"a worker ignored SIGTERM for 30 s (log {worker.log})")
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait(10)


async def broker_pause(
    settings: Settings, tmp: Path, load: Load, pause_s: float, note: Note = quiet
) -> Figures:
    """The broker SIGSTOPped for ``pause_s`` a third of the way into the stream, then resumed."""
    figures, started = Figures(f"broker SIGSTOP {pause_s:.0f} s"), time.monotonic()
    broker = PausableBroker(log_dir=tmp)
    await asyncio.to_thread(broker.start)  # its health check runs an event loop of its own
    settings = dataclasses.replace(settings, kafka_bootstrap_servers=broker.bootstrap_servers)
    events, _ = load.messages(settings.topics.prefix)
    stream = Stream(settings, events, load.rate)
    try:
        async with serving(settings):
            producing = asyncio.ensure_future(stream.run())
            await stream.reached(1 / 3)
            broker.pause()
            figures.kills += 1
            note(f"  broker stopped at {stream.sent}/{len(events)} sent")
            try:
                await asyncio.sleep(pause_s)
            finally:
                broker.resume()
            figures.restarts += 1
            await producing
            assert stream.sent == len(events)
            await _finish(settings, figures, events, stream, [], started, note)
    finally:
        broker.stop()
    return figures


async def duplicate_storm(
    settings: Settings, load: Load, late_share: float = 0.3, note: Note = quiet
) -> Figures:
    """Every event sent 2 or 3 times (same event_id), some copies when the user has newer
    events hours or days younger; the model is applied to each event once."""
    figures, started = Figures("duplicate storm (2-3 copies)"), time.monotonic()
    events, _ = load.messages(settings.topics.prefix)
    messages = storm(events, random.Random(load.seed), late_share)
    late, median_h = late_copies(messages)
    figures.notes.append(f"{late} copies sent after a newer event (median {median_h:.0f} h older)")
    note(f"  {len(messages)} messages for {len(events)} events")
    stream = Stream(settings, messages, load.rate)
    async with serving(settings):
        await stream.run()
        await _finish(settings, figures, events, stream, [], started, note)
    return figures


async def small_cache(
    settings: Settings, load: Load, cache: int, batch: int, note: Note = quiet
) -> Figures:
    """The worker with ``cache_max_users`` far below the active users and batches of ``batch``
    records, fed faster than it writes (so the next batch is prepared while one is stored)."""
    figures, started = Figures(f"cache {cache} users, batches of {batch}"), time.monotonic()
    worker = dataclasses.replace(settings.worker, cache_max_users=cache, batch_max_records=batch)
    settings = dataclasses.replace(settings, worker=worker)
    events, _ = load.messages(settings.topics.prefix)
    stream = Stream(settings, events, load.rate)
    async with serving(settings):
        await stream.run()
        note(f"  {stream.sent} sent; draining")
        await _finish(settings, figures, events, stream, [], started, note)
    return figures
