"""cluster_refusal: a Redis Cluster node is refused with a one-line reason naming the masked URL;
a single Redis, an ACL user without INFO and a slow INFO are let through (the calls will tell)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from streams.connect.lifecycle import cluster_refusal


class FakeRedis:
    def __init__(self, answer: dict[str, Any] | BaseException | None, delay: float = 0.0) -> None:
        self.answer, self.delay = answer, delay
        self.sections: list[str] = []

    async def info(self, section: str) -> dict[str, Any]:
        self.sections.append(section)
        await asyncio.sleep(self.delay)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer or {}


@pytest.mark.parametrize(
    "answer,delay,refused",
    [
        pytest.param({"cluster_enabled": 1}, 0.0, True, id="cluster node"),
        pytest.param({"cluster_enabled": 0}, 0.0, False, id="single redis"),
        pytest.param({}, 0.0, False, id="no cluster field"),
        pytest.param(PermissionError("NOPERM info"), 0.0, False, id="ACL user without INFO"),
        pytest.param({"cluster_enabled": 1}, 1.0, False, id="INFO slower than the timeout"),
    ],
)  # fmt: skip
async def test_refusal(answer: Any, delay: float, refused: bool) -> None:
    redis = FakeRedis(answer, delay)
    url = "redis://portrait:s3cret@redis.example:6379/0"
    reason = await cluster_refusal(redis, url, timeout_s=0.2)  # type: ignore[arg-type]
    assert redis.sections == ["cluster"]
    assert (reason is not None) == refused
    if reason is not None:
        assert "is a Redis Cluster node" in reason and "redis.example:6379" in reason
        assert "redis+cluster://portrait:***@redis.example:6379/0" in reason  # what to name
        assert "s3cret" not in reason and "\n" not in reason


class FakeCluster(RedisCluster):
    def __init__(self) -> None:  # no connection: only isinstance matters
        pass


async def test_a_cluster_url_is_let_through() -> None:
    url = "redis+cluster://redis.example:6379"
    assert await cluster_refusal(FakeCluster(), url, 0.2) is None  # type: ignore[arg-type]
