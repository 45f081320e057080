"""Profiles count, segment and layer sizes, profile bytes: a periodic census of Redis.

One worker per interval takes the census (a Redis lock, ``SET NX PX``) and publishes its result
in Redis; every worker exports the latest published result, so any worker's scrape shows it and
dashboards take ``max`` across workers. The census:

* counts the profile keys (``Keys.profile``) exactly with ``SCAN`` while the database holds at
  most ``exact_below`` keys, else estimates them as ``DBSIZE`` x the share of profile keys among
  ``sample`` ``RANDOMKEY`` answers (each answer a key drawn uniformly, so the share is binomial:
  the estimate's standard error is ``DBSIZE`` x sqrt(p(1 - p) / sample), p the profiles'
  share, at most 1.1 % of ``DBSIZE`` for a sample of 2000);
* reads up to ``sample`` of those profiles, evaluates their segments as of now (time-dependent
  layers flip with time, docs/tags.md) and scales each segment value's share to the count;
* notes the percentiles of the stored state's bytes (fence header + MessagePack; Redis adds about
  60 bytes per key).

A sample of 2000 costs one worker about a second of CPU per interval; nothing of it is on the
event path.

On Redis Cluster ``DBSIZE`` and ``RANDOMKEY`` answer for one node only: the database's size is
the sum of every primary's ``DBSIZE``, and each ``RANDOMKEY`` goes to a primary drawn with a
probability proportional to its ``DBSIZE``, so that every key of the cluster is as likely to be
drawn as on a single Redis and the estimate keeps its error. ``SCAN`` walks every primary.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from profiles.layers import LIFECYCLE_STAGES, RFM_SEGMENTS, SHOPPING_TYPES
from profiles.model import ProfileModel
from profiles.names import FLAG_SEGMENTS, RFM_SCORE_SEGMENTS
from streams.names import PROFILE, Keys
from streams.ops.sensor import Sensor
from streams.pipeline.labels import segment_label

log = logging.getLogger("portrait.census")
QUANTILES = (0.5, 0.9, 0.99)
_BOOLS = {"true": "false", "false": "true"}
_SCORES = ("1", "2", "3", "4", "5", "null")
# The values of the bounded segments that a census (and a batch's segment changes) can label
# (segment_label's): exported at 0 before any user holds them, so that a fresh deployment's
# panels show 0, not "No data". "null": no such value yet (a user who never purchased).
SEGMENT_VALUES: Final[dict[str, tuple[str, ...]]] = {
    "lifecycle": LIFECYCLE_STAGES,
    **dict.fromkeys(FLAG_SEGMENTS, ("true", "false")),
    **dict.fromkeys(RFM_SCORE_SEGMENTS, _SCORES),
    "rfm_segment": (*RFM_SEGMENTS, "null"),
    "shopping_type": (*SHOPPING_TYPES, "null"),
}


class CensusMetrics(Sensor):
    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.profiles = gauge("portrait_profiles", "Profiles stored in Redis (census)")
        self.segment_users = gauge(
            "portrait_segment_users",
            "Users in each segment value (census: sampled share x profiles)",
            ("segment", "value"),
        )
        self.state_bytes = gauge(
            "portrait_profile_state_bytes",
            "Stored profile state size, quantiles over the census sample",
            ("quantile",),
        )
        self.sampled = gauge("portrait_census_sampled_profiles", "Profiles the census decoded")
        self.exact = gauge("portrait_census_exact", "1: profiles counted by SCAN, 0: estimated")
        self.taken_at = gauge("portrait_census_timestamp_seconds", "When the census was taken")
        self.seconds = gauge("portrait_census_duration_seconds", "Time the census took")
        for q in QUANTILES:  # every series a panel reads exists before the first census
            self.state_bytes.labels(str(q))
        self._zero_segments()

    def _zero_segments(self) -> None:
        for segment, values in SEGMENT_VALUES.items():
            for value in values:
                self.segment_users.labels(segment, value).set(0)

    def on_census(self, result: Mapping[str, Any]) -> None:
        self.profiles.set(result["profiles"])
        self.sampled.set(result["sampled"])
        self.exact.set(1 if result["exact"] else 0)
        self.taken_at.set(result["at"])
        self.seconds.set(result["seconds"])
        for q, size in result["bytes"].items():
            self.state_bytes.labels(q).set(size)
        self.segment_users.clear()  # a value no user holds any more: 0, or gone when unbounded
        self._zero_segments()
        for key, users in result["segments"].items():
            segment, value = key.split("=", 1)
            self.segment_users.labels(segment, value).set(users)


class Census:
    def __init__(
        self,
        redis: Redis,
        model: ProfileModel,
        metrics: Sensor,
        *,
        key_prefix: str = "",
        sample: int = 2000,
        exact_below: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.model = model
        self.metrics = metrics
        self.sample = sample
        self.exact_below = exact_below
        self.clock = clock
        keys = Keys(key_prefix)
        self.lock_key = keys.census_lock
        self.result_key = keys.census
        self.pattern = keys.user_pattern(PROFILE)
        self._token = uuid.uuid4().hex

    async def run(self, interval_s: float) -> bool:
        """Take the census if no worker took it this interval; export the latest result.
        Returns whether this worker took it."""
        took = bool(
            await self.redis.set(self.lock_key, self._token, nx=True, px=int(interval_s * 900))
        )
        if took:
            result = await self.take()
            await self.redis.set(self.result_key, orjson.dumps(result), ex=int(interval_s * 10) + 1)
        raw = await self.redis.get(self.result_key)
        if raw:
            self.metrics.on_census(orjson.loads(raw))
        return took

    async def take(self) -> dict[str, Any]:
        started = time.perf_counter()
        keys, total, exact = await self._sample_keys()
        blobs = await self._get(keys)
        now_ms = int(self.clock() * 1000)
        values: Counter[str] = Counter()
        decoded = 0
        for blob in blobs:
            try:
                segments = self.model.segments(self.model.decode(blob), now_ms)
            except Exception as exc:  # a corrupt state is the worker's DLQ's business
                log.debug("census skips an undecodable profile: %r", exc)
                continue
            decoded += 1
            for name, value in segments.items():
                segment, label = segment_label(name, value)
                if label != "*":
                    values[f"{segment}={label}"] += 1
        for key in list(values):  # a yes/no segment shows both sides, even when one is empty
            segment, label = key.split("=", 1)
            if label in _BOOLS:
                values[f"{segment}={_BOOLS[label]}"] += 0
        sizes = sorted(len(b) for b in blobs) or [0]
        return {
            "at": self.clock(),
            "profiles": total,
            "exact": exact,
            "sampled": decoded,
            "segments": {k: round(n * total / max(1, decoded)) for k, n in sorted(values.items())},
            "bytes": {str(q): sizes[min(len(sizes) - 1, int(q * len(sizes)))] for q in QUANTILES},
            "seconds": time.perf_counter() - started,
        }

    async def _sample_keys(self) -> tuple[list[bytes], int, bool]:
        """Up to ``sample`` profile keys, the profiles count, and whether it is exact."""
        shards = await _dbsizes(self.redis)
        size = sum(n for _, n in shards)
        rng = random.Random()
        if size <= self.exact_below:
            kept: list[bytes] = []
            seen = 0
            async for key in self.redis.scan_iter(self.pattern, count=1000):
                seen += 1  # reservoir sampling: every profile equally likely to be decoded
                if len(kept) < self.sample:
                    kept.append(key)
                elif (j := rng.randrange(seen)) < self.sample:
                    kept[j] = key
            return kept, seen, True
        drawn = await _random_keys(self.redis, shards, self.sample, rng)
        prefix = self.pattern[: self.pattern.index("{")].encode()
        hits = [k for k in drawn if k.startswith(prefix)]
        return hits, round(size * len(hits) / max(1, len(drawn))), False

    async def _get(self, keys: list[bytes]) -> list[bytes]:
        if not keys:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            return [b for b in await pipe.execute() if b]


Shard = tuple[ClusterNode | None, int]  # a primary (None: the single Redis) and its DBSIZE


async def _dbsizes(redis: Redis) -> list[Shard]:
    """Each primary's ``DBSIZE`` on Redis Cluster, where a plain ``DBSIZE`` reaches one node;
    the database's on a single Redis."""
    if not isinstance(redis, RedisCluster):
        return [(None, int(await redis.dbsize()))]
    primaries = redis.get_primaries()
    sizes = await asyncio.gather(*(redis.dbsize(target_nodes=node) for node in primaries))
    return [(node, int(n)) for node, n in zip(primaries, sizes, strict=True)]


async def _random_keys(
    redis: Redis, shards: list[Shard], n: int, rng: random.Random
) -> list[bytes]:
    """``n`` ``RANDOMKEY`` answers (an emptied database's None left out). On Redis Cluster each
    goes to a primary drawn in proportion to its ``DBSIZE`` (the node's own ``RANDOMKEY`` then
    draws a key of that node), so each key of the cluster is equally likely; one pipeline,
    one round trip per primary."""
    if not isinstance(redis, RedisCluster):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(n):
                pipe.randomkey()
            return [k for k in await pipe.execute() if k is not None]
    weights = [size for _, size in shards]
    if not any(weights):
        return []
    nodes = rng.choices([node for node, _ in shards], weights=weights, k=n)
    async with redis.pipeline(transaction=False) as cluster_pipe:
        for node in nodes:  # the method refuses a pipeline on a cluster: the raw command does not
            cluster_pipe.execute_command("RANDOMKEY", target_nodes=node)
        return [k for k in await cluster_pipe.execute() if k is not None]
