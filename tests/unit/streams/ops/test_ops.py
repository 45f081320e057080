"""The worker's ops pieces that need no broker: probes, lag arithmetic, tag freshness,
Redis error kinds, the ops tunables."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Counter
from redis import exceptions as rx

from streams.ops.freshness import TagFreshness
from streams.ops.health import Health, serve
from streams.ops.lag import LagMetrics, LagSampler
from streams.ops.redis_timing import error_kind
from streams.pipeline.batch import BatchStats
from streams.settings.base import ConfigError
from streams.settings.ops import OpsConfig


def _status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_probes_follow_the_worker_state_over_http() -> None:
    now = [100.0]
    health = Health(stale_after_s=30, clock=lambda: now[0])
    registry = CollectorRegistry()
    port = serve(registry, 0, addr="127.0.0.1", health=health)
    base = f"http://127.0.0.1:{port}"
    assert _status(f"{base}/healthz") == (200, "ok\n")
    assert _status(f"{base}/readyz") == (503, "starting\n")
    health.started, health.redis_ok = True, True
    assert _status(f"{base}/readyz") == (200, "ok\n")
    health.redis_ok = False
    assert _status(f"{base}/readyz") == (503, "redis does not answer\n")
    assert _status(f"{base}/healthz")[0] == 200  # a Redis outage is no reason to restart
    now[0] += 31  # the event loop stopped beating
    assert _status(f"{base}/healthz") == (503, "event loop silent for 31s\n")
    assert _status(f"{base}/readyz")[0] == 503
    assert _status(f"{base}/metrics")[0] == 200


def test_the_metrics_port_answers_only_its_own_paths() -> None:
    registry = CollectorRegistry()
    Counter("probe_hits", "a metric to find", registry=registry).inc()
    bare = f"http://127.0.0.1:{serve(registry, 0, addr='127.0.0.1')}"
    assert _status(f"{bare}/metrics")[0] == 200
    assert "probe_hits_total 1.0" in _status(f"{bare}/metrics")[1]
    assert _status(f"{bare}/profiles/u1") == (404, "not found: this port serves /metrics\n")
    assert _status(f"{bare}/healthz")[0] == 404  # no probes without a Health
    probed = f"http://127.0.0.1:{serve(registry, 0, addr='127.0.0.1', health=Health())}"
    for path in ("/", "/profiles/u1", "/metrics/extra", "/favicon.ico"):
        status, body = _status(f"{probed}{path}")
        assert (status, body) == (404, "not found: this port serves /metrics, /healthz, /readyz\n")
    assert _status(f"{probed}/healthz") == (200, "ok\n")


class _Consumer:
    def __init__(self, highwater: dict[TopicPartition, int | None], committed: dict[int, int]):
        self.highwaters = highwater
        self.commits = committed

    def assignment(self) -> set[TopicPartition]:
        return set(self.highwaters)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters[tp]

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.commits.get(tp.partition)


async def test_lag_is_highwater_minus_committed_and_revoked_partitions_disappear() -> None:
    registry = CollectorRegistry()
    tp0, tp1, tp2 = (TopicPartition("events", p) for p in range(3))
    consumer = _Consumer({tp0: 100, tp1: 50, tp2: None}, {0: 40})
    sampler = LagSampler(consumer, LagMetrics(registry))
    assert await sampler.sample() == {tp0: 60, tp1: 50}  # tp2: not fetched yet, no watermark
    assert (
        registry.get_sample_value("portrait_consumer_lag", {"topic": "events", "partition": "0"})
        == 60
    )
    consumer.highwaters = {tp1: 70}  # tp0 revoked
    consumer.commits = {1: 70}
    assert await sampler.sample() == {tp1: 0}
    labels = {"topic": "events", "partition": "0"}
    assert registry.get_sample_value("portrait_consumer_lag", labels) is None


def test_freshness_observes_each_batch_oldest_change_per_tag_once_written() -> None:
    registry = CollectorRegistry()
    fresh = TagFreshness(registry)
    first = BatchStats()
    first.note_changed({"lifecycle": (None, "new")}, 1_000)
    first.note_changed({"lifecycle": (None, "new"), "rfm_r": (None, 5)}, 500)
    second = BatchStats()
    second.note_changed({"lifecycle": ("new", "active")}, 9_000)
    assert first.tags_changed == {"lifecycle": 500, "rfm_r": 500}
    fresh.on_batch_written(first, 0.1, 2_000)  # the oldest change per tag, 1.5 s before
    sample = registry.get_sample_value
    assert sample("portrait_tag_freshness_seconds_sum", {"tag": "lifecycle"}) == 1.5
    assert sample("portrait_tag_freshness_seconds_sum", {"tag": "rfm_r"}) == 1.5
    fresh.on_batch_written(second, 0.1, 10_000)
    assert sample("portrait_tag_freshness_seconds_count", {"tag": "lifecycle"}) == 2
    assert sample("portrait_tag_freshness_seconds_sum", {"tag": "lifecycle"}) == 2.5
    fresh.on_batch_written(BatchStats(), 0.1, 11_000)  # nothing changed: nothing observed
    assert sample("portrait_tag_freshness_seconds_count", {"tag": "lifecycle"}) == 2
    assert sample("portrait_tag_freshness_seconds_count", {"tag": "rfm_r"}) == 1


def test_no_profile_model_subclass_observes_the_model() -> None:
    """Instrumentation is a sensor hook, never a subclass of the domain model."""
    import streams.app.services  # noqa: F401  (every service the worker process builds)
    from profiles.model import ProfileModel

    found = [c for c in _subclasses(ProfileModel) if c.__module__.split(".")[0] == "streams"]
    assert found == []


def _subclasses(cls: type) -> list[type]:
    direct: list[type] = cls.__subclasses__()
    return [*direct, *(sub for d in direct for sub in _subclasses(d))]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (rx.ConnectionError("refused"), "connection"),
        (rx.TimeoutError("slow"), "timeout"),
        (rx.NoScriptError("gone"), "response"),
        (ValueError("x"), "other"),
    ],
)
def test_redis_error_kinds(exc: Exception, kind: str) -> None:
    assert error_kind(exc) == kind


def test_ops_tunables_from_the_environment() -> None:
    assert OpsConfig.load(None, {}) == OpsConfig(5.0, 60.0, 2000)
    env = {"PORTRAIT_LAG_INTERVAL_S": "1", "PORTRAIT_CENSUS_INTERVAL_S": "0"}
    assert OpsConfig.load(None, env) == OpsConfig(1.0, 0.0, 2000)
    with pytest.raises(ConfigError, match="PORTRAIT_CENSUS_SAMPLE"):
        OpsConfig.load(None, {"PORTRAIT_CENSUS_SAMPLE": "many"})
    with pytest.raises(ConfigError, match="at least"):
        OpsConfig.load(None, {"PORTRAIT_LAG_INTERVAL_S": "0"})


def test_every_worker_metric_is_documented_in_operations_md() -> None:
    from pathlib import Path

    from streams.ops.worker_metrics import WorkerMetrics

    docs = (Path(__file__).resolve().parents[4] / "docs" / "operations.md").read_text()
    for family in WorkerMetrics().registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"| `{name}` |" in docs, f"{name} is not in docs/operations.md's tables"


async def test_the_processor_notes_each_changed_tag_with_the_user_newest_event_time() -> None:
    from tests.unit.streams.pipeline.test_processor import T0, batch, event, harness

    h = harness()
    stats = await h.process(
        batch([
            event("view", "ann", T0, item_id="a"),
            event("view", "ann", T0 + 5_000, item_id="b"),
            event("view", "bob", T0 + 1_000, item_id="c"),
        ])
    )  # fmt: skip
    assert stats.tags_changed["lifecycle"] == T0 + 1_000  # ann's newest is later than bob's
    again = await h.process(batch([event("view", "ann", T0 + 6_000, item_id="d")], first_offset=3))
    assert "lifecycle" not in again.tags_changed  # still new: no change, no observation
