"""The sensor interface: a delegate hands every hook to every sensor, a failing sensor is
skipped (and logged) without stopping the others or the worker, metric sets are sensors."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.ops.feedback_metrics import FeedbackMetrics
from streams.ops.sensor import Sensor, SensorDelegate
from streams.ops.trigger_metrics import TriggerMetrics
from streams.ops.worker_metrics import WorkerMetrics
from streams.pipeline.batch import BatchStats

HOOKS = sorted(name for name, _ in inspect.getmembers(Sensor) if name.startswith("on_"))


def _args(hook: str) -> list[Any]:
    """One plausible argument per parameter of ``hook``."""
    params = list(inspect.signature(getattr(Sensor, hook)).parameters)[1:]
    return [f"{hook}:{p}" for p in params]


class Recorder(Sensor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append((name, args))
        return object.__getattribute__(self, name)


class Broken(Sensor):
    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            raise RuntimeError(f"broken {name}")
        return object.__getattribute__(self, name)


def test_the_interface_has_the_worker_scheduler_feedback_and_ops_hooks() -> None:
    assert HOOKS == [
        "on_assigned", "on_backlog", "on_batch_written", "on_cache_size", "on_census",
        "on_commit_failed", "on_deferred", "on_dropped", "on_experiment", "on_feedback_counted",
        "on_feedback_rejected", "on_feedback_retry", "on_feedback_up", "on_fired", "on_lag",
        "on_message", "on_published", "on_recall_registered", "on_redis_command",
        "on_redis_error", "on_redis_retry", "on_worker_up",
    ]  # fmt: skip


@pytest.mark.parametrize("hook", HOOKS)
def test_the_base_sensor_ignores_every_hook(hook: str) -> None:
    assert getattr(Sensor(), hook)(*_args(hook)) is None


@pytest.mark.parametrize("hook", HOOKS)
def test_the_delegate_hands_every_hook_to_every_sensor_in_order(hook: str) -> None:
    first, second = Recorder(), Recorder()
    delegate = SensorDelegate([first])
    delegate.add(second)
    args = _args(hook)
    getattr(delegate, hook)(*args)
    assert first.calls == [(hook, tuple(args))]
    assert second.calls == [(hook, tuple(args))]


@pytest.mark.parametrize("hook", HOOKS)
def test_a_failing_sensor_is_skipped_and_the_others_still_see_the_hook(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    after = Recorder()
    delegate = SensorDelegate([Broken(), after])
    with caplog.at_level(logging.ERROR, "portrait.ops"):
        for _ in range(3):
            getattr(delegate, hook)(*_args(hook))  # does not raise
    assert len(after.calls) == 3
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [f"sensor Broken failed in {hook} (skipped)"]  # once a minute at most


def test_an_empty_delegate_is_a_sensor_that_does_nothing() -> None:
    delegate = SensorDelegate()
    assert isinstance(delegate, Sensor)
    delegate.on_batch_written(BatchStats(), 0.1, 0)
    assert delegate.sensors == []


def test_the_worker_and_trigger_metrics_count_one_batch_through_a_delegate() -> None:
    registry = CollectorRegistry()
    delegate = SensorDelegate([WorkerMetrics(registry), TriggerMetrics(registry)])
    stats = BatchStats(records=3, users_written=2)
    stats.outcomes[("view", "applied")] = 2
    stats.rejected["invalid_json"] = 1
    stats.trigger_ops[("cart_abandoned", "scheduled")] = 1
    stats.recalls.append(("win_back", "push"))
    stats.note_changed({"lifecycle": (None, "new")}, 1_000)
    delegate.on_batch_written(stats, 0.05, 3_000)
    sample = registry.get_sample_value
    assert sample("portrait_events_total", {"type": "view", "outcome": "applied"}) == 2
    assert sample("portrait_events_total", {"type": "unknown", "outcome": "rejected"}) == 1
    assert sample("portrait_dlq_total", {"reason": "invalid_json"}) == 1
    assert sample("portrait_profile_writes_total") == 2
    assert sample("portrait_batch_size_sum") == 3
    assert sample("portrait_tag_freshness_seconds_sum", {"tag": "lifecycle"}) == 2.0
    assert sample("portrait_triggers_scheduled_total", {"kind": "cart_abandoned"}) == 1
    assert sample("portrait_trigger_recalled_total", {"kind": "win_back", "channel": "push"}) == 1


def test_the_worker_metrics_hand_the_client_and_ops_hooks_to_their_views() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.on_redis_command("EVALSHA", 0.002)
    metrics.on_redis_error(TimeoutError())
    metrics.on_lag({("events", 0): (100, 60)})
    metrics.on_census({"profiles": 7, "sampled": 7, "exact": True, "at": 1.0, "seconds": 0.1,
                       "segments": {}, "bytes": {"0.5": 300}})  # fmt: skip
    metrics.on_worker_up(True)
    metrics.on_assigned(4)
    sample = registry.get_sample_value
    assert sample("portrait_redis_command_seconds_count", {"command": "EVALSHA"}) == 1
    assert sample("portrait_redis_errors_total", {"kind": "timeout"}) == 1
    assert sample("portrait_consumer_lag", {"topic": "events", "partition": "0"}) == 60
    assert sample("portrait_consumer_highwater", {"topic": "events", "partition": "0"}) == 100
    assert sample("portrait_profiles") == 7
    assert sample("portrait_profile_state_bytes", {"quantile": "0.5"}) == 300
    assert sample("portrait_worker_up") == 1
    assert sample("portrait_assigned_partitions") == 4
    assert sample("portrait_rebalances_total") == 1
    metrics.on_lag({})  # the partition revoked: its series go
    assert sample("portrait_consumer_lag", {"topic": "events", "partition": "0"}) is None


def test_the_feedback_metrics_are_a_sensor_beside_the_worker_metrics() -> None:
    registry = CollectorRegistry()
    delegate = SensorDelegate([WorkerMetrics(registry), FeedbackMetrics(registry)])
    delegate.on_feedback_up(True)
    delegate.on_feedback_rejected("bad_json", 2)
    delegate.on_recall_registered(3)
    delegate.on_feedback_retry("count")
    sample = registry.get_sample_value
    assert sample("portrait_feedback_up") == 1
    assert sample("portrait_worker_up") == 0  # not the worker's hook
    assert sample("portrait_feedback_rejected_total", {"reason": "bad_json"}) == 2
    assert sample("portrait_recall_registered_total") == 3
    assert sample("portrait_feedback_redis_retries_total", {"op": "count"}) == 1


async def test_a_raising_sensor_does_not_stop_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    """The worker hands its hooks to a delegate, whichever sensors it is given."""
    from streams.settings.tree import Settings
    from streams.worker.service import EventWorker

    after = Recorder()
    worker = EventWorker(Settings(), Broken(), trigger_metrics=after)
    try:
        with caplog.at_level(logging.ERROR, "portrait.ops"):
            worker.sensor.on_batch_written(BatchStats(), 0.1, 0)
            worker.sensor.on_commit_failed()
        assert [name for name, _ in after.calls] == ["on_batch_written", "on_commit_failed"]
        assert len(caplog.records) == 2
        assert getattr(worker.redis, "timing", None) is worker.sensor  # Redis timing: a hook too
    finally:
        await worker.close_clients()


def test_a_sensor_is_what_the_scheduler_observes() -> None:
    from streams.triggers.scheduler import Observer

    hooks = [name for name in vars(Observer) if name.startswith("on_")]
    assert len(hooks) == 6
    for name in hooks:
        theirs = inspect.signature(getattr(Observer, name)).parameters
        ours = inspect.signature(getattr(Sensor, name)).parameters
        assert list(ours) == list(theirs), name
