"""retry_until_stopped: which errors are waited out (the service, or the cluster, may come back)
and which stop the worker at once (a bug: safer than skipping the batch)."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ClusterError,
    MovedError,
    NoScriptError,
    RedisClusterUnreachableError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.pipeline.retry import Backoff, Stopping, retry_until_stopped

FAST = Backoff(initial_s=0.0001, max_s=0.0005)


async def _fails(error: BaseException, times: int) -> tuple[str, list[str]]:
    """Run a call that raises ``error`` ``times`` times, then answers: its answer, the retries."""
    calls, retried = [0], []

    async def call() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise error
        return "done"

    answer = await retry_until_stopped(
        call, op="write", backoff=FAST, should_stop=lambda: False, on_retry=retried.append
    )
    return answer, retried


@pytest.mark.parametrize(
    "error",
    [
        RedisConnectionError("Connection refused"),
        KafkaConnectionError("broker gone"),
        OSError("network unreachable"),
        # a Redis Cluster moving a slot or failing over (docs/cluster.md)
        ClusterError("TTL exhausted."),
        ClusterDownError("CLUSTERDOWN The cluster is down"),
        TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        AskError("3999 127.0.0.1:6381"),
        MovedError("3999 127.0.0.1:6381"),
        SlotNotCoveredError("Slot 3999 not covered by the cluster"),
        RedisClusterUnreachableError("no node of the cluster answered"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_transient_error_is_retried_until_the_call_answers(error: BaseException) -> None:
    assert await _fails(error, 3) == ("done", ["write"] * 3)


@pytest.mark.parametrize(
    "error",
    [
        ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot"),
        ResponseError("ERR wrong number of arguments"),
        NoScriptError("NOSCRIPT No matching script"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_any_other_error_stops_at_once(error: BaseException) -> None:
    with pytest.raises(type(error)):
        await _fails(error, 1)


async def test_a_transient_error_while_stopping_is_not_retried() -> None:
    async def call() -> str:
        raise ClusterError("TTL exhausted.")

    with pytest.raises(Stopping, match="write failed while stopping: TTL exhausted"):
        await retry_until_stopped(
            call, op="write", backoff=FAST, should_stop=lambda: True, on_retry=lambda op: None
        )
