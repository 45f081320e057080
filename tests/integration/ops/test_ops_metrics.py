"""The worker's periodic ops metrics against a real broker and Redis: lag, census, Redis timing,
per-tag freshness."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry

from streams.settings.ops import OpsConfig
from streams.settings.tree import Settings
from tests.integration.helpers import (
    applied_total,
    metric,
    produce,
    running_worker,
    traffic,
    wait_until,
)

pytestmark = pytest.mark.integration


def _sum(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    return [s.labels for f in registry.collect() for s in f.samples if s.name == name]


async def test_lag_census_redis_and_freshness(
    settings: Settings, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(
        settings, ops=OpsConfig.load(None, {"PORTRAIT_LAG_INTERVAL_S": "0.2",
                                            "PORTRAIT_CENSUS_INTERVAL_S": "0.5"})
    )  # fmt: skip
    events = traffic(namespace, users=40, n=1500)
    users = sorted({e["user_id"] for e in events})
    async with running_worker(settings) as registry:
        sent = await produce(settings, events)

        async def caught_up() -> bool:
            return await applied_total(settings, users) == sent

        await wait_until(caught_up, what="every event applied")

        async def lag_settled() -> bool:  # high watermarks of all 4 partitions, all committed
            return (
                len(_series(registry, "portrait_consumer_lag")) == 4
                and _sum(registry, "portrait_consumer_highwater") == sent
                and _sum(registry, "portrait_consumer_lag") == 0
            )

        await wait_until(lag_settled, within=20, what="lag of every partition at 0")

        async def census_counts_ours() -> bool:  # the Redis is shared with other tests
            return metric(registry, "portrait_profiles") >= len(users)

        await wait_until(census_counts_ours, within=20, what="a census counting our profiles")

    assert metric(registry, "portrait_census_exact") == 1
    profiles = metric(registry, "portrait_profiles")
    lifecycle = _sum(registry, "portrait_segment_users", segment="lifecycle")
    assert abs(lifecycle - profiles) <= len(_series(registry, "portrait_segment_users"))
    assert metric(registry, "portrait_profile_state_bytes", quantile="0.5") > 50
    writes = metric(registry, "portrait_redis_command_seconds_count", command="EVALSHA")
    assert writes >= 1
    assert _sum(registry, "portrait_redis_errors_total") == 0
    assert _sum(registry, "portrait_tag_freshness_seconds_count", tag="lifecycle") >= 1
