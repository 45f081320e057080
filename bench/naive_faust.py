"""The naive peer: a faust agent doing one event at a time, four awaited redis-py calls each.

What a typical user writes first: ``async for value in stream:``, ``orjson.loads``, then per
event ``HINCRBY`` of a per-type counter, ``HSET`` of last-seen, ``ZINCRBY`` of a category
affinity and ``EXPIRE`` of the counter hash, each awaited on ``redis.asyncio``, against the same
Redis as the worker, in its own consumer group. bench.throughput runs it as a child process
(``--naive-faust``) on the same topic after the worker.

It is about 1k events/s, so it runs on a bounded window: from the first event (faust's group
join, ~30 s on Tansu, is left out, as in bench/faust_agent.py) until ``--events`` events or
``--seconds`` of steady state, whichever comes first. It prints JSON lines on stdout:
``{"seen": n, "t": monotonic}`` while it runs and ``{"done": ...}`` at the end of the window.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from bench.ceiling import Window
from bench.faust_agent import Tally, measure_child, raw_app

TTL_S = 30 * 86_400


def build_app(
    bootstrap: str, topic_name: str, group: str, redis_url: str, total: int, seconds: float
) -> Any:
    from redis.asyncio import Redis

    app, topic = raw_app(bootstrap, topic_name, group)
    redis = Redis.from_url(redis_url)
    prefix = group + ":"
    tally = Tally(total, seconds)

    @app.agent(topic)
    async def profile(stream: Any) -> None:
        async for value in stream:
            event = orjson.loads(value)
            user = event.get("user_id") or event.get("anonymous_id") or "?"
            props = event.get("properties") or {}
            key = f"{prefix}{user}"
            await redis.hincrby(key + ":counts", event.get("type", "?"), 1)
            await redis.hset(key + ":last", mapping={"ts": event.get("ts", 0)})
            await redis.zincrby(key + ":affinity", 1.0, props.get("category", "none"))
            await redis.expire(key + ":counts", TTL_S)
            tally.add(1)

    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--redis-url", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    a = p.parse_args()
    import faust

    app = build_app(a.bootstrap, a.topic, a.group, a.redis_url, a.events, a.seconds)
    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


# --- parent side --------------------------------------------------------------------------------
def measure_naive_faust(
    bootstrap: str,
    topic: str,
    group: str,
    redis_url: str,
    total: int,
    seconds: float,
    timeout_s: float,
    log_path: str,
) -> Window:
    """Run the agent until ``total`` events or ``seconds`` after its first event."""
    cmd = [
        sys.executable, "-m", "bench.naive_faust", "--bootstrap", bootstrap, "--topic", topic,
        "--group", group, "--redis-url", redis_url, "--events", str(total),
        "--seconds", str(seconds),
    ]  # fmt: skip
    return measure_child(cmd, "naive faust consumed", total, timeout_s, log_path)


if __name__ == "__main__":
    main()
