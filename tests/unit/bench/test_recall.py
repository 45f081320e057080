"""bench/recall.py's table: time, rate, peak RSS and its growth per message between the sizes."""

from __future__ import annotations

from typing import Any

from bench.recall import table


def row(messages: int, seconds: float, peak_mib: float, recalled: int) -> dict[str, Any]:
    return {"messages": messages, "seconds": seconds, "cpu_seconds": seconds * 0.9,
            "peak_rss_kib": peak_mib * 1024, "report": {"recalled": recalled}}  # fmt: skip


def test_the_table_shows_each_size_and_the_growth_per_message() -> None:
    text = table({"rows": [row(100_000, 10.0, 100, 25_000), row(1_000_000, 50.0, 280, 250_000)]})
    lines = text.splitlines()
    assert lines[0].startswith("| messages | users recalled | seconds | messages/s")
    assert lines[2] == "| 100,000 | 25,000 | 10.0 | 10,000 | 9.0 | 100 | - |"
    # (280 - 100) MiB over 900,000 more messages: 210 bytes each
    assert lines[3] == "| 1,000,000 | 250,000 | 50.0 | 20,000 | 45.0 | 280 | 210 |"
