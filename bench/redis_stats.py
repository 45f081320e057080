"""Redis server counters before and after a run: commands, bytes in, server CPU, memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis

OWN_COMMANDS = frozenset({"info", "dbsize", "flushdb"})  # the benchmark's own, not the worker's


@dataclass(frozen=True, slots=True)
class RedisSnapshot:
    calls: dict[str, int]  # command -> calls (commands run inside Lua are counted too)
    usec: dict[str, int]  # command -> server microseconds
    net_input_bytes: int
    cpu_seconds: float
    used_memory: int
    keys: int


def snapshot(redis_url: str) -> RedisSnapshot:
    client = Redis.from_url(redis_url)
    try:
        commands: dict[str, Any] = client.info("commandstats")
        stats: dict[str, Any] = client.info("stats")
        cpu: dict[str, Any] = client.info("cpu")
        memory: dict[str, Any] = client.info("memory")
        keys = int(client.dbsize())
    finally:
        client.close()
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in commands.items()}
    usec = {k.removeprefix("cmdstat_"): int(v["usec"]) for k, v in commands.items()}
    return RedisSnapshot(
        calls=calls,
        usec=usec,
        net_input_bytes=int(stats["total_net_input_bytes"]),
        cpu_seconds=float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        used_memory=int(memory["used_memory"]),
        keys=keys,
    )


def flush(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def delta(before: RedisSnapshot, after: RedisSnapshot, events: int) -> dict[str, Any]:
    """Per-run and per-event figures for the report."""
    calls = {k: v - before.calls.get(k, 0) for k, v in after.calls.items()}
    calls = {k: v for k, v in sorted(calls.items()) if v > 0 and k not in OWN_COMMANDS}
    usec = {k: after.usec[k] - before.usec.get(k, 0) for k in calls}
    per_event = max(events, 1)
    return {
        "calls": calls,
        "server_seconds": {k: round(v / 1e6, 3) for k, v in usec.items()},
        "set_per_event": round(calls.get("set", 0) / per_event, 4),
        "commands_per_event": round(sum(calls.values()) / per_event, 4),
        "net_input_bytes_per_event": round(
            (after.net_input_bytes - before.net_input_bytes) / per_event, 1
        ),
        "cpu_seconds": round(after.cpu_seconds - before.cpu_seconds, 3),
        "used_memory_mb": round(after.used_memory / 2**20, 1),
        "keys": after.keys,
    }
