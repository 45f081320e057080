"""docs/benchmarks.md and its plots, from the benchmarks' results, by one command.

    python -m bench.report --run     # run every benchmark (about 15 minutes), then write
    python -m bench.report           # write from the newest results already in bench/results/

The runs: ``bench.throughput`` on synthetic traffic (with the naive faust agent) and on the
replayed Taobao slice, ``bench.latency`` (live traffic at 1k events/s and at half the measured
maximum, against a plain consumer at the same rate), ``bench.scaleout`` (1, 2, 4 workers),
``bench.cluster`` (the worker on one Redis and on a Redis Cluster). The
page: a table and a plot per question (throughput by source against the ceiling, the latency
CDF, scale-out and its model), each with the command that measured it and the result file.
Plots are PNGs drawn with matplotlib (``pip install -e '.[bench]'``) into docs/img/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = Path(__file__).resolve().parents[1] / "docs"
RUNS: tuple[tuple[str, ...], ...] = (
    ("bench.throughput", "--naive-faust", "--wait-quiet", "30"),
    ("bench.throughput", "--source", "taobao", "--wait-quiet", "30"),
    ("bench.latency", "--rate", "1000", "--rate-share", "0.5"),
    ("bench.scaleout",),
    ("bench.cluster",),
)
Result = dict[str, Any]


def kind_of(path: Path) -> str:
    """``throughput``, ``latency``, ``scaleout`` or ``cluster``, from the result file's name."""
    stem = path.stem
    return stem.split("-", 1)[1] if "-" in stem else "throughput"


def newest(results: Path) -> dict[str, Result]:
    """The newest result of each kind; throughput keeps the newest per source, of the default
    worker settings (a ``--worker-set`` variant is an experiment, not the page's figure)."""
    out: dict[str, Result] = {}
    for path in sorted(results.glob("*.json")):  # stamps sort by time
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data["_file"] = path.name
        kind = kind_of(path)
        variant = data.get("config", {}).get("worker_set")
        if kind == "throughput" and "worker" in data and "produce" in data and not variant:
            out[f"throughput:{data['config']['source']}"] = data
        elif kind in ("latency", "scaleout", "cluster"):
            out[kind] = data
    return out


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def throughput_rows(found: dict[str, Result]) -> list[list[str]]:
    rows = []
    for key in sorted(k for k in found if k.startswith("throughput:")):
        r = found[key]
        ceiling = (r.get("ceiling") or {}).get("per_s")
        worker = r["worker"]["per_s"]
        naive = (r.get("naive_faust") or {}).get("per_s")
        rows.append([
            key.split(":", 1)[1],
            _rate(ceiling),
            _rate(worker),
            f"{worker / ceiling:.3f}" if ceiling else "-",
            _rate(naive),
            f"{worker / naive:.1f}x" if naive else "-",
            f"[{r['_file']}](bench-results/{r['_file']}.gz)",
        ])  # fmt: skip
    return rows


def latency_rows(found: dict[str, Result]) -> list[list[str]]:
    data = found.get("latency")
    if not data:
        return []
    rows = []
    for phase in data.get("phases", []):
        s = phase.get("summary") or {}
        rows.append([
            str(phase.get("phase")), _rate(phase.get("rate")), str(s.get("count", "-")),
            *(str(s.get(q, "-")) for q in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
        ])  # fmt: skip
    return rows


def scaleout_rows(found: dict[str, Result]) -> tuple[list[list[str]], list[list[str]]]:
    data = found.get("scaleout")
    if not data:
        return [], []
    runs = data["runs"]
    base = runs[0]["per_s"]
    measured = [
        [str(r["workers"]), _rate(r["per_s"]), f"{r['per_s'] / base:.2f}", str(r["worker_cores"]),
         str(r["redis_cores"]), str(r["worker_us_per_event"]), str(r["redis_us_per_event"])]
        for r in runs
    ]  # fmt: skip
    model = [[str(m["cores"]), str(m["workers"]), _rate(m["per_s"])] for m in data["model"]]
    return measured, model


def cluster_section(found: dict[str, Result]) -> list[str]:
    """The worker on one Redis and on a Redis Cluster (``bench.cluster``), if measured."""
    data = found.get("cluster")
    if data is None:
        return []
    rows = [
        [name, _rate(r["per_s"]), str(r["worker_us_per_event"]), str(r["redis_us_per_event"]),
         str(r["redis_commands_per_event"])]
        for name, r in (("one Redis", data["single"]), ("Redis Cluster", data["cluster"]))
    ]  # fmt: skip
    masters = data.get("config", {}).get("masters", 3)
    return [
        "\n## Redis Cluster\n\n",
        f"`python -m bench.cluster`: the worker over the same events on one Redis, then on a "
        f"{masters}-master cluster (`redis+cluster://`, docs/cluster.md). "
        "On this 2-core machine the primaries share the cores with the worker and the broker, so "
        "this is what the cluster path costs (a script call per user instead of per 1000, the "
        "shared writes after it, sharded indexes), not what more machines would give. Redis "
        "figures are summed over the primaries.\n\n",
        table(["Redis", "events/s", "worker µs/event", "Redis µs/event", "commands/event"], rows),
        f"\nCluster / one Redis: {data['cluster_over_single']}.\n",
    ]


def table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "_No result yet: run `python -m bench.report --run`._\n"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot(name: str, draw: Callable[[Any], None], img: Path) -> str:
    """Draw one PNG into ``img``; its Markdown reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    try:
        draw(ax)
        fig.tight_layout()
        img.mkdir(parents=True, exist_ok=True)
        fig.savefig(img / f"{name}.png")
    finally:
        plt.close(fig)
    return f"![{name}](img/{name}.png)\n"


def draw_throughput(found: dict[str, Result]) -> Callable[[Any], None]:
    rows = throughput_rows(found)

    def draw(ax: Any) -> None:
        names = [r[0] for r in rows]
        xs = range(len(names))
        for shift, col, label in ((-0.2, 1, "raw getmany ceiling"), (0.2, 2, "worker")):
            values = [float(r[col].replace(",", "")) if r[col] != "-" else 0 for r in rows]
            ax.bar([x + shift for x in xs], values, width=0.4, label=label)
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("events/s")
        ax.set_title("Throughput per worker against the raw consumer, same run")
        ax.legend()

    return draw


def draw_latency(found: dict[str, Result]) -> Callable[[Any], None]:
    phases = found["latency"].get("phases", [])

    def draw(ax: Any) -> None:
        for phase in phases:
            cdf = phase.get("cdf") or []
            if cdf:
                ax.plot([c[0] for c in cdf], [c[1] for c in cdf],
                        label=f"{phase.get('phase')} at {_rate(phase.get('rate'))}/s")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("event time → visible (worker) / received (consumer), ms")
        ax.set_ylabel("share of events")
        ax.set_title("Live latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)

    return draw


def draw_scaleout(found: dict[str, Result]) -> Callable[[Any], None]:
    data = found["scaleout"]

    def draw(ax: Any) -> None:
        runs, model = data["runs"], data["model"]
        ax.plot([r["workers"] for r in runs], [r["per_s"] for r in runs], "o-",
                label="measured on this 2-core machine")  # fmt: skip
        ax.plot([m["workers"] for m in model], [m["per_s"] for m in model], "s--",
                label="model: N-1 worker cores, Redis on one")  # fmt: skip
        ax.set_xlabel("workers in the group")
        ax.set_ylabel("events/s")
        ax.set_title("Scale-out")
        ax.legend()

    return draw


def render(found: dict[str, Result], img: Path) -> str:
    head = ["source", "ceiling ev/s", "worker ev/s", "worker / ceiling", "naive faust ev/s",
            "worker / naive", "result"]  # fmt: skip
    parts = [
        "# Benchmarks\n\n",
        "Generated by `python -m bench.report` from the newest results in `bench/results/` "
        "(`--run` measures them again, about 15 minutes); do not edit by hand. Every ratio "
        "compares two phases of one run on the same broker, Redis and machine (2 cores here), "
        "never bare times of different runs.\n\n",
        "## Throughput per worker\n\n",
        "`python -m bench.throughput [--source taobao] [--naive-faust]`: a backlog on the topic, "
        "the raw `getmany` + `orjson.loads` consumer (the ceiling), the worker with the full "
        "catalogue, triggers and the default rule pack, and a naive faust agent (one event at a "
        "time, four awaited redis-py calls) in the same run. Targets: 0.5 of the ceiling "
        "(synthetic), 0.35 (Taobao), 50x the naive agent.\n\n",
        table(head, throughput_rows(found)),
    ]
    if throughput_rows(found):
        parts.append("\n" + plot("bench-throughput", draw_throughput(found), img))
    parts += [
        "\n## Live latency\n\n",
        "`python -m bench.latency`: events produced live at a fixed rate; for the worker, event "
        "time → the profile written in Redis (keyspace notifications), for a plain aiokafka "
        "consumer on the same broker, event time → received. Targets: the worker's p99 within "
        "100 ms of the consumer's at half the maximum rate, and at most 100 ms at 1k events/s."
        "\n\n",
        table(
            ["phase", "events/s", "events", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            latency_rows(found),
        ),
    ]
    if latency_rows(found):
        parts.append("\n" + plot("bench-latency-cdf", draw_latency(found), img))
    measured, model = scaleout_rows(found)
    parts += [
        "\n## Scale-out\n\n",
        "`python -m bench.scaleout`: `portrait worker --processes k` (k workers in one group, 16 "
        "partitions), each count on the same events; CPU per event of the workers and of Redis "
        "in the same window. On this 2-core machine the broker, Redis and the workers share the "
        "two cores, so more than one worker shows only what the cores allow. The CPU per event "
        "falls as workers are added because each worker owns fewer of the bench's 20k users, "
        "so a user has more events in each batch (the batch effect of docs/design.md), not "
        "because workers share work; a stream of millions of users would not show it.\n\n",
        table(
            [
                "workers",
                "events/s",
                "x one",
                "worker cores",
                "Redis cores",
                "worker µs/event",
                "Redis µs/event",
            ],
            measured,
        ),
        "\nWhat N cores would give (workers on N - 1 cores, Redis on one, its single thread the "
        "cap), from the one-worker run's CPU per event:\n\n",
        table(["cores", "workers", "events/s"], model),
    ]
    if measured:
        parts.append("\n" + plot("bench-scaleout", draw_scaleout(found), img))
    parts += cluster_section(found)
    sources = sorted({r["_file"] for r in found.values()})
    links = ", ".join(f"[{s}](bench-results/{s}.gz)" for s in sources)
    parts.append(f"\nResult files (gzipped JSON, without latency series): {links}\n")
    return "".join(parts)


def keep(found: dict[str, Result], results: Path, into: Path) -> None:
    """Copy the results the page shows next to it (bench/results/ is not committed), gzipped,
    without the latency phases' time series; older copies go."""
    import gzip

    into.mkdir(parents=True, exist_ok=True)
    names = {r["_file"] for r in found.values()}
    for old in into.glob("*.json.gz"):
        if old.name.removesuffix(".gz") not in names:
            old.unlink()
    for name in names:
        data = json.loads((results / name).read_text())
        for phase in data.get("phases", []) if isinstance(data.get("phases"), list) else []:
            phase.pop("series", None)
        (into / f"{name}.gz").write_bytes(gzip.compress(json.dumps(data).encode(), mtime=0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="store_true", help="run every benchmark first")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--out", type=Path, default=DOCS / "benchmarks.md")
    args = p.parse_args(argv)
    if args.run:
        for module in RUNS:
            print(f"running python -m {' '.join(module)} ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", *module], check=True)
    found = newest(args.results)
    if not found:
        print(f"no results in {args.results}: run with --run", file=sys.stderr)
        return 1
    args.out.write_text(render(found, args.out.parent / "img"))
    keep(found, args.results, args.out.parent / "bench-results")
    print(f"wrote {args.out} from {len(found)} results", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
