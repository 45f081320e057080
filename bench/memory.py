"""Redis bytes per profile: simulate users, store their profiles, ask Redis ``MEMORY USAGE``.

    python -m bench.memory [--users 100000] [--days 30] [--activity 0.08] [--source taobao]

Persona traffic (streams/sim/personas.py) for ``--users`` users over ``--days`` simulated days is
applied through the pure model, settled once per simulated hour per touched user (as a worker's
batches would), written with the store's fenced writes to an embedded valkey (or ``REDIS_URL``),
and every key's ``MEMORY USAGE`` is read back. ``--source taobao|rees46`` measures the real logs
instead. Prints percentiles of bytes per profile and the stored-state bytes per sub-state.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from redis.asyncio import Redis

from bench.progress import Progress, note
from profiles import codec
from profiles.config import ModelConfig
from profiles.events import Event, from_dict
from profiles.model import ProfileModel, State
from streams.app.embedded import EmbeddedRedis
from streams.connect.clients import redis_client
from streams.names import Keys
from streams.sim.personas import TrafficModel
from streams.store.profiles import ProfileStore, Write

HOUR = 3_600_000
_STORED = [f for f in State.__struct_fields__ if f not in ("fences", "segments")]  # the body's
T0 = 1_700_000_000_000
REAL = {
    "taobao": Path("../shared/data/taobao_userbehavior_by_user/UserBehavior.csv"),
    "rees46": Path("../shared/data/rees46_multicategory_2019oct_head/2019-Oct.head.csv"),
}


def simulated(users: int, days: int, activity: float) -> Iterator[list[Event]]:
    """Hour by hour, the simulated events (the first hour's registrations included)."""
    traffic = TrafficModel(users, seed=7, activity=activity)
    progress = Progress("simulated hours", days * 24)
    for hour in range(days * 24):
        start = T0 + hour * HOUR
        yield [from_dict(e) for e in traffic.events_between(start, start + HOUR)]
        progress.update(hour + 1)


def real(source: str) -> Iterator[list[Event]]:
    from profiles.events import decode
    from streams.replay.sources import read_messages

    batch: list[Event] = []
    for message in read_messages(REAL[source]):
        batch.append(decode(message.value))
        if len(batch) == 20_000:
            yield batch
            batch = []
    yield batch


async def build(batches: Iterator[list[Event]], model: ProfileModel, store: ProfileStore) -> int:
    states: dict[str, State] = {}
    offset = 0
    for events in batches:
        touched = set()
        for event in events:
            state = states.get(event.user_id)
            if state is None:
                state = states[event.user_id] = model.initial()
            model.apply_event(state, event, 0, offset)
            offset += 1
            touched.add(event.user_id)
        for uid in touched:
            model.settle(states[uid])
    note(f"{offset} events applied to {len(states)} profiles; writing them")
    writes = [Write(uid, 0, s.fences["0"], model.encode(s)) for uid, s in states.items()]
    for start in range(0, len(writes), 5000):
        await store.write(writes[start : start + 5000])
    return offset


async def measure(redis: Redis, model: ProfileModel, user_ids: list[str]) -> dict[str, Any]:
    sizes: list[int] = []
    parts: dict[str, list[int]] = defaultdict(list)
    progress = Progress("MEMORY USAGE", len(user_ids))
    for start in range(0, len(user_ids), 2000):
        chunk = user_ids[start : start + 2000]
        pipe = redis.pipeline(transaction=False)
        for uid in chunk:
            pipe.memory_usage(Keys().profile(uid), samples=0)
            pipe.get(Keys().profile(uid))
        replies = await pipe.execute()
        for i in range(0, len(replies), 2):
            sizes.append(int(replies[i]))
            state = codec.decode(replies[i + 1])
            for name in _STORED:
                parts[name].append(len(msgspec.msgpack.encode(getattr(state, name))))
        progress.update(start + len(chunk))
    q = statistics.quantiles(sizes, n=100)
    return {
        "profiles": len(sizes),
        "median": statistics.median(sizes),
        "p90": q[89],
        "p99": q[98],
        "max": max(sizes),
        "mean": statistics.fmean(sizes),
        "parts_median": {k: statistics.median(v) for k, v in sorted(parts.items())},
        "parts_mean": {k: round(statistics.fmean(v), 1) for k, v in sorted(parts.items())},
    }


async def run(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    redis = redis_client(redis_url)
    await redis.flushdb()
    model = ProfileModel(model_config(args.model_set))
    store = ProfileStore(redis, "")
    if args.source == "simulated":
        events = await build(simulated(args.users, args.days, args.activity), model, store)
    else:
        events = await build(real(args.source), model, store)
    users = await store.user_ids()
    result = await measure(redis, model, users)
    result["events"] = events
    await redis.aclose()
    return result


def model_config(pairs: list[str]) -> ModelConfig:
    """The default model with ``NAME=VALUE`` fields of :class:`ModelConfig` replaced (numbers),
    e.g. ``affinity_max_entries=32``: what a smaller state costs and gives, measured alike."""
    config = ModelConfig()
    for pair in pairs:
        name, sep, text = pair.partition("=")
        current = getattr(config, name, None)
        if not sep or not isinstance(current, int | float) or isinstance(current, bool):
            raise SystemExit(f"--model-set {pair}: not NAME=NUMBER of a number ModelConfig field")
        config = dataclasses.replace(config, **{name: type(current)(text)})
    return config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--activity", type=float, default=0.08, help="persona session-rate factor")
    p.add_argument("--source", choices=("simulated", *REAL), default="simulated")
    p.add_argument(
        "--model-set",
        action="append",
        default=[],
        metavar="NAME=NUMBER",
        help="a ModelConfig field, e.g. affinity_max_entries=32 (repeatable)",
    )
    args = p.parse_args()
    url = os.environ.get("REDIS_URL")
    if url:
        result = asyncio.run(run(args, url))
    else:
        server = EmbeddedRedis()
        server.start()
        try:
            result = asyncio.run(run(args, server.url))
        finally:
            server.stop()
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
