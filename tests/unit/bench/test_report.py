"""bench/report.py: docs/benchmarks.md from result files (tables, PNG plots, newest wins)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import main, newest

PNG = b"\x89PNG\r\n\x1a\n"


def throughput(source: str, ceiling: int, worker: int, naive: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "config": {"source": source},
        "produce": {"events": 1000},
        "ceiling": {"per_s": ceiling},
        "worker": {"per_s": worker},
    }
    if naive:
        out["naive_faust"] = {"per_s": naive}
    return out


LATENCY = {
    "phases": [
        {"phase": "consumer", "rate": 1000.0, "summary": {"count": 9, "p50_ms": 3.1,
         "p90_ms": 5.0, "p99_ms": 8.2, "max_ms": 9.0}, "cdf": [[1.0, 0.1], [9.0, 1.0]]},
        {"phase": "worker", "rate": 1000.0, "summary": {"count": 9, "p50_ms": 20.5,
         "p90_ms": 40.0, "p99_ms": 77.7, "max_ms": 90.0}, "cdf": [[10.0, 0.1], [90.0, 1.0]]},
    ]
}  # fmt: skip
SCALEOUT = {
    "runs": [
        {"workers": 1, "per_s": 10_000, "worker_cores": 0.9, "redis_cores": 0.1,
         "worker_us_per_event": 90.0, "redis_us_per_event": 9.0},
        {"workers": 2, "per_s": 15_000, "worker_cores": 1.5, "redis_cores": 0.2,
         "worker_us_per_event": 100.0, "redis_us_per_event": 10.0},
    ],
    "model": [{"cores": 4, "workers": 3, "per_s": 33_333}],
}  # fmt: skip


def write(results: Path, name: str, data: dict[str, Any]) -> None:
    results.mkdir(exist_ok=True)
    (results / name).write_text(json.dumps(data))


def test_newest_result_of_each_kind_and_source(tmp_path: Path) -> None:
    write(tmp_path, "20260101T000000Z.json", throughput("synthetic", 100, 1))
    write(tmp_path, "20260102T000000Z.json", throughput("synthetic", 100, 2))
    write(tmp_path, "20260101T120000Z.json", throughput("taobao", 100, 3))
    variant = throughput("synthetic", 100, 9)
    variant["config"]["worker_set"] = ["batch_max_records=80000"]
    write(tmp_path, "20260103T000000Z.json", variant)
    write(tmp_path, "20260101T000000Z-latency.json", LATENCY)
    (tmp_path / "20260103T000000Z-scaleout.json").write_text("{not json")
    found = newest(tmp_path)
    assert sorted(found) == ["latency", "throughput:synthetic", "throughput:taobao"]
    assert found["throughput:synthetic"]["worker"]["per_s"] == 2


def test_the_page_has_every_table_and_plot(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    docs.mkdir()
    write(results, "20260102T000000Z.json", throughput("synthetic", 300_000, 60_000, 1_000))
    write(results, "20260102T000001Z.json", throughput("taobao", 200_000, 50_000))
    write(results, "20260102T000002Z-latency.json", LATENCY)
    write(results, "20260102T000003Z-scaleout.json", SCALEOUT)
    assert main(["--results", str(results), "--out", str(docs / "benchmarks.md")]) == 0
    page = (docs / "benchmarks.md").read_text()
    assert "| synthetic | 300,000 | 60,000 | 0.200 | 1,000 | 60.0x |" in page
    assert "| taobao | 200,000 | 50,000 | 0.250 | - | - |" in page
    assert "| worker | 1,000 | 9 | 20.5 | 40.0 | 77.7 | 90.0 |" in page
    assert "| 2 | 15,000 | 1.50 | 1.5 | 0.2 | 100.0 | 10.0 |" in page
    assert "| 4 | 3 | 33,333 |" in page
    kept = sorted(p.name for p in (docs / "bench-results").iterdir())
    assert kept == [
        f"20260102T00000{i}Z{k}.json.gz" for i, k in enumerate(("", "", "-latency", "-scaleout"))
    ]
    assert "](bench-results/20260102T000002Z-latency.json.gz)" in page
    for name in ("bench-throughput", "bench-latency-cdf", "bench-scaleout"):
        assert f"](img/{name}.png)" in page
        assert (docs / "img" / f"{name}.png").read_bytes().startswith(PNG)


def test_no_results_is_one_line_and_exit_1(tmp_path: Path, capsys: Any) -> None:
    assert main(["--results", str(tmp_path), "--out", str(tmp_path / "b.md")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


CLUSTER = {
    "config": {"masters": 3},
    "single": {"per_s": 12_000, "worker_us_per_event": 70.0, "redis_us_per_event": 5.5,
               "redis_commands_per_event": 1.2},
    "cluster": {"per_s": 8_000, "worker_us_per_event": 95.0, "redis_us_per_event": 12.0,
                "redis_commands_per_event": 2.5},
    "cluster_over_single": 0.667,
}  # fmt: skip


def test_the_cluster_section_when_measured(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    docs.mkdir()
    write(results, "20260102T000000Z.json", throughput("synthetic", 300_000, 60_000))
    out = str(docs / "benchmarks.md")
    assert main(["--results", str(results), "--out", out]) == 0
    assert "## Redis Cluster" not in (docs / "benchmarks.md").read_text()  # not measured
    write(results, "20260102T000001Z-cluster.json", CLUSTER)
    assert main(["--results", str(results), "--out", out]) == 0
    page = (docs / "benchmarks.md").read_text()
    assert "3-master cluster" in page
    assert "| one Redis | 12,000 | 70.0 | 5.5 | 1.2 |" in page
    assert "| Redis Cluster | 8,000 | 95.0 | 12.0 | 2.5 |" in page
    assert "Cluster / one Redis: 0.667." in page
    assert "](bench-results/20260102T000001Z-cluster.json.gz)" in page
