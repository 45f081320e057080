"""One observer interface for the services, in the manner of faust's ``Sensor`` and
``SensorDelegate``: the domain code reports what happened by calling a hook; a metric set is a
:class:`Sensor` overriding the hooks it counts; a :class:`SensorDelegate` hands every hook to
many sensors. No domain module knows a metric name, and no domain class is subclassed to
observe it.

Every hook is called per batch, per Redis command or per scheduler decision, never per event.
A sensor that raises is logged and skipped by the delegate, and the other sensors still see the
hook: observing the worker must not stop it (as the ops loop's steps, streams/ops/loop.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from streams.store.feedback import Counted

log = logging.getLogger("portrait.ops")
_LOG_EVERY_S = 60.0


class BatchReport(Protocol):
    """What a stored batch tells its sensors (streams.pipeline.batch.BatchStats fits)."""

    @property
    def records(self) -> int: ...
    @property
    def outcomes(self) -> Mapping[tuple[str, str], int]: ...  # (type, outcome) -> events
    @property
    def rejected(self) -> Mapping[str, int]: ...  # dead-letter reason -> messages
    @property
    def applied_ts_sample(self) -> Sequence[int]: ...  # event times of some applied events
    @property
    def users_written(self) -> int: ...
    @property
    def fence_refused(self) -> int: ...
    @property
    def key_mismatch(self) -> int: ...
    @property
    def erased(self) -> int: ...  # users whose erase event the batch reached
    @property
    def identity(self) -> Mapping[tuple[str, str], int]: ...  # (action, reason) -> steps
    @property
    def forwarded(self) -> int: ...  # events of merged profiles sent on to their survivor
    @property
    def segment_changes(self) -> Mapping[tuple[str, str], int]: ...  # (segment, to) -> users
    @property
    def late(self) -> Mapping[str, int]: ...  # type -> applied events older than the newest
    @property
    def trigger_ops(self) -> Mapping[tuple[str, str], int]: ...  # (kind, outcome) -> ops
    @property
    def recalls(self) -> Sequence[tuple[str, str]]: ...  # (kind, channel) of users back
    @property
    def tags_changed(self) -> Mapping[str, int]: ...  # tag -> oldest changing event time, ms


class Sensor:
    """Every hook a service calls, each doing nothing: override the ones you observe."""

    # --- the event worker (streams/worker/service.py) -------------------------------------
    def on_worker_up(self, up: bool) -> None: ...
    def on_assigned(self, partitions: int) -> None: ...

    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        """A batch stored (profiles written, dead letters sent) and its offsets committed or
        their commit failed; ``seconds`` from its poll to now, ``now_ms`` the worker's clock."""

    def on_commit_failed(self) -> None: ...
    def on_redis_retry(self, op: str) -> None: ...
    def on_cache_size(self, users: int) -> None: ...

    # --- the worker's Redis client (streams/ops/redis_timing.py) ---------------------------
    def on_redis_command(self, command: str, seconds: float) -> None: ...
    def on_redis_error(self, exc: BaseException) -> None: ...

    # --- the worker's ops loop (streams/ops/lag.py, census.py) -----------------------------
    def on_lag(self, partitions: Mapping[tuple[str, int], tuple[int, int]]) -> None:
        """Every owned partition with a known high watermark: ``(topic, partition) ->
        (high watermark, lag)``; a partition missing is no longer owned."""

    def on_census(self, result: Mapping[str, Any]) -> None:
        """The latest census published in Redis (streams/ops/census.py's ``take``)."""

    # --- the trigger scheduler (it takes any streams.triggers.scheduler.Observer) ----------
    def on_fired(self, kind: str) -> None: ...
    def on_deferred(self, kind: str, reason: str) -> None: ...
    def on_dropped(self, kind: str, outcome: str, reason: str) -> None: ...
    def on_published(self, kind: str, channel: str, latency_s: float) -> None: ...
    def on_experiment(self, experiment: str, arm: str, event: str, channel: str = "") -> None: ...
    def on_message(self, body: dict[str, Any]) -> None: ...
    def on_backlog(self, pending: int, overdue: int) -> None: ...

    # --- the feedback service (streams/feedback/service.py) --------------------------------
    def on_feedback_up(self, up: bool) -> None: ...
    def on_feedback_counted(self, counted: Sequence[Counted]) -> None: ...
    def on_feedback_rejected(self, reason: str, n: int = 1) -> None: ...
    def on_recall_registered(self, n: int) -> None: ...
    def on_feedback_retry(self, op: str) -> None: ...


class SensorDelegate(Sensor):
    """Hands every hook to each of its sensors, in order."""

    def __init__(self, sensors: Iterable[Sensor] = ()) -> None:
        self.sensors: list[Sensor] = list(sensors)
        self._failed_at: dict[tuple[int, str], float] = {}

    def add(self, sensor: Sensor) -> None:
        self.sensors.append(sensor)

    def _each(self, hook: str, *args: Any) -> None:
        for sensor in self.sensors:
            try:
                getattr(sensor, hook)(*args)
            except Exception:
                self._failed(sensor, hook)

    def _failed(self, sensor: Sensor, hook: str) -> None:
        """Log a failing sensor's traceback, once a minute per sensor and hook at most."""
        key, now = (id(sensor), hook), time.monotonic()
        if now - self._failed_at.get(key, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._failed_at[key] = now
            log.exception("sensor %s failed in %s (skipped)", type(sensor).__name__, hook)

    def on_worker_up(self, up: bool) -> None:
        self._each("on_worker_up", up)

    def on_assigned(self, partitions: int) -> None:
        self._each("on_assigned", partitions)

    def on_batch_written(self, batch: BatchReport, seconds: float, now_ms: int) -> None:
        self._each("on_batch_written", batch, seconds, now_ms)

    def on_commit_failed(self) -> None:
        self._each("on_commit_failed")

    def on_redis_retry(self, op: str) -> None:
        self._each("on_redis_retry", op)

    def on_cache_size(self, users: int) -> None:
        self._each("on_cache_size", users)

    def on_redis_command(self, command: str, seconds: float) -> None:
        self._each("on_redis_command", command, seconds)

    def on_redis_error(self, exc: BaseException) -> None:
        self._each("on_redis_error", exc)

    def on_lag(self, partitions: Mapping[tuple[str, int], tuple[int, int]]) -> None:
        self._each("on_lag", partitions)

    def on_census(self, result: Mapping[str, Any]) -> None:
        self._each("on_census", result)

    def on_fired(self, kind: str) -> None:
        self._each("on_fired", kind)

    def on_deferred(self, kind: str, reason: str) -> None:
        self._each("on_deferred", kind, reason)

    def on_dropped(self, kind: str, outcome: str, reason: str) -> None:
        self._each("on_dropped", kind, outcome, reason)

    def on_published(self, kind: str, channel: str, latency_s: float) -> None:
        self._each("on_published", kind, channel, latency_s)

    def on_experiment(self, experiment: str, arm: str, event: str, channel: str = "") -> None:
        self._each("on_experiment", experiment, arm, event, channel)

    def on_message(self, body: dict[str, Any]) -> None:
        self._each("on_message", body)

    def on_backlog(self, pending: int, overdue: int) -> None:
        self._each("on_backlog", pending, overdue)

    def on_feedback_up(self, up: bool) -> None:
        self._each("on_feedback_up", up)

    def on_feedback_counted(self, counted: Sequence[Counted]) -> None:
        self._each("on_feedback_counted", counted)

    def on_feedback_rejected(self, reason: str, n: int = 1) -> None:
        self._each("on_feedback_rejected", reason, n)

    def on_recall_registered(self, n: int) -> None:
        self._each("on_recall_registered", n)

    def on_feedback_retry(self, op: str) -> None:
        self._each("on_feedback_retry", op)
