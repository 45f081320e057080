"""``portrait insight`` on a million profiles: time and peak RSS, at two sizes (issue 16).

    python -m bench.insight [--profiles 1000000] [--also 100000] [--users 3000]

1. **Redis.** ``REDIS_URL``, else an embedded valkey (stopped at the end). Keys live under a
   fresh namespace (the topic prefix); on your own Redis they are unlinked at the end.
2. **Templates.** ``--users`` persona users over ``--days`` simulated days (bench/memory.py's
   traffic and build: applied through the pure model, settled hourly, encoded as the store
   does): a few thousand distinct profile states, identify traits (gender, city, ...) included.
3. **Profiles.** User ``i`` gets template ``i % T``, written with MSET in chunks of
   ``--chunk``; even users join the segment ``half_a``, odd ones ``half_b`` (their member sets).
   The ``--also`` size is written and measured first, then the rest up to ``--profiles``.
4. **Insight.** The real command as a user runs it, in a child process: ``python -m
   streams.app.cli insight half_a half_b --as-of <end of the traffic> --out report.html
   --quiet``, with PORTRAIT_CONFIG (the namespace) and PORTRAIT_RULES (the two segments; their
   condition is never evaluated: the member sets are read). A fresh helper process
   (bench/insight_measure.py) starts it and reads ``getrusage(RUSAGE_CHILDREN)`` after it: the
   peak RSS is the insight child's alone; its RSS over time goes to the JSON (``rss_mib``).
   The report's audiences must hold N/2 profiles each, or the run fails.

Progress on stderr; the table on stdout; figures in ``bench/results/<stamp>-insight.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.insight_measure import peak_at
from bench.memory import HOUR, T0, build, simulated
from bench.progress import Progress, note
from bench.results import on_redis, save
from bench.throughput import code_digest, versions
from profiles.model import ProfileModel
from streams.names import Keys
from streams.store.profiles import Write

SEGMENTS = ("half_a", "half_b")  # even users, odd users
RULES = "segments:\n" + "".join(
    f"  - name: {name}\n    where: {{events_total: {{'>=': 0}}}}\n" for name in SEGMENTS
)


class Templates:
    """Captures the encoded states bench.memory's build would write (a ProfileStore's place)."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []

    async def write(self, writes: Sequence[Write]) -> list[str]:
        self.blobs.extend(w.state for w in writes)
        return []


def templates(users: int, days: int, activity: float) -> list[bytes]:
    into = Templates()
    asyncio.run(build(simulated(users, days, activity), ProfileModel(), into))  # type: ignore[arg-type]
    return into.blobs


def expected(profiles: int) -> dict[str, int]:
    """The audiences' sizes when users ``0..profiles-1`` alternate between the two segments."""
    return {SEGMENTS[0]: (profiles + 1) // 2, SEGMENTS[1]: profiles // 2}


def audiences(report: dict[str, Any]) -> dict[str, int]:
    """The users of each audience of a report document."""
    return {a["name"]: a["users"] for a in report["audiences"]}


def check(report: dict[str, Any], profiles: int) -> list[str]:
    """What is wrong with the report of ``profiles`` written users (empty: nothing)."""
    problems = []
    got, want = audiences(report), expected(profiles)
    if got != want:
        problems.append(f"audiences {got}, expected {want}")
    problems += [f"note: {n}" for n in report.get("notes", ()) if "decode" in n or "erased" in n]
    return problems


def write(
    client: redis.Redis, ns: str, blobs: list[bytes], start: int, stop: int, chunk: int
) -> None:
    """Users ``start..stop-1``: user ``i`` gets ``blobs[i % len(blobs)]`` and joins the member
    set of ``half_a`` (even ``i``) or ``half_b`` (odd), one pipeline of MSET + SADDs per chunk."""
    keys, progress = Keys(ns), Progress("written profiles", stop)
    sets = [keys.segment_members(name) for name in SEGMENTS]
    for low in range(start, stop, chunk):
        users = [(i, f"u{i}") for i in range(low, min(stop, low + chunk))]
        pipe = client.pipeline(transaction=False)
        pipe.mset({keys.profile(u): blobs[i % len(blobs)] for i, u in users})
        for parity, key in enumerate(sets):
            members = [u for i, u in users if i % 2 == parity]
            if members:
                pipe.sadd(key, *members)
        pipe.execute()
        progress.update(users[-1][0] + 1)
    progress.update(stop, force=True)


def measure(url: str, ns: str, workdir: Path, profiles: int, as_of: int) -> dict[str, Any]:
    """Runs ``portrait insight half_a half_b`` as a user would; its time, peak RSS, audiences."""
    out, figures = workdir / f"report-{profiles}.html", workdir / f"measure-{profiles}.json"
    (workdir / "portrait.yaml").write_text(f"topics:\n  prefix: '{ns}'\n")
    (workdir / "rules.yaml").write_text(RULES)
    env = {**os.environ, "REDIS_URL": url, "PORTRAIT_CONFIG": str(workdir / "portrait.yaml"),
           "PORTRAIT_RULES": str(workdir / "rules.yaml")}  # fmt: skip
    cmd = [sys.executable, "-m", "streams.app.cli", "insight", *SEGMENTS, "--as-of", str(as_of),
           "--out", str(out), "--quiet"]  # fmt: skip
    note(f"insight of {profiles:,} profiles: {' '.join(cmd[1:])}")
    load = os.getloadavg()[0]
    helper = [sys.executable, "-m", "bench.insight_measure", str(figures), *cmd]
    subprocess.run(helper, env=env, check=True)
    run = orjson.loads(figures.read_bytes())
    if run["code"] != 0:
        raise SystemExit(f"portrait insight exited {run['code']} on {profiles:,} profiles")
    report = orjson.loads(out.with_suffix(".json").read_bytes())
    problems = check(report, profiles)
    if problems:
        raise SystemExit(f"WRONG report of {profiles:,} profiles: " + "; ".join(problems))
    seconds = run["seconds"]
    return {
        "profiles": profiles,
        "seconds": round(seconds, 2),
        "per_s": round(profiles / seconds),
        "peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1),
        "cpu_seconds": round(run["cpu_seconds"], 2),
        "cores": round(run["cpu_seconds"] / seconds, 2),
        "loadavg_before": load,
        "audiences": audiences(report),
        "tests": report["tests"],
        "significant": report["significant"],
        "rss_mib": run["rss_mib"],  # [seconds, MiB] of the insight child
        "peak_at": peak_at(run["rss_mib"], seconds),
    }


def ratios(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The largest run against the smallest: RSS and size ratios, and the marginal rate (the
    extra profiles over the extra seconds: the command's fixed start-up cost left out)."""
    small, large = runs[0], runs[-1]
    extra = large["seconds"] - small["seconds"]
    return {
        "rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 2),
        "size_ratio": round(large["profiles"] / small["profiles"], 2),
        "marginal_per_s": round((large["profiles"] - small["profiles"]) / extra)
        if extra > 0
        else 0,
    }


def unlink_namespace(client: redis.Redis, ns: str) -> int:
    gone = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{ns}*", count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            gone += client.unlink(*batch)
            batch = []
    return gone + (client.unlink(*batch) if batch else 0)


def run(args: argparse.Namespace, url: str, external: bool) -> dict[str, Any]:
    blobs = templates(args.users, args.days, args.activity)
    sizes = sorted({n for n in (args.also, args.profiles) if n > 0})
    median = statistics.median(map(len, blobs))
    note(f"{len(blobs):,} template states, median {median:,.0f} B")
    ns, as_of = f"benchins{uuid.uuid4().hex[:8]}.", T0 + args.days * 24 * HOUR
    client = redis.Redis.from_url(url)
    runs, written = [], 0
    try:
        with tempfile.TemporaryDirectory(prefix="portrait-bench-insight-") as tmp:
            for size in sizes:
                write(client, ns, blobs, written, size, args.chunk)
                written = size
                runs.append(measure(url, ns, Path(tmp), size, as_of))
                runs[-1]["redis_used_mib"] = round(client.info("memory")["used_memory"] / 2**20)
    finally:
        if external:
            note(f"unlinked {unlink_namespace(client, ns):,} keys of {ns}")
        client.close()
    return {
        "config": {**vars(args), "namespace": ns, "as_of_ms": as_of, "external_redis": external},
        "templates": {"count": len(blobs), "median_bytes": median},
        "runs": runs,
        **ratios(runs),
        "versions": versions(),
        "code": code_digest(),
    }


def table(result: dict[str, Any]) -> str:
    head = ("profiles", "seconds", "profiles/s", "peak RSS", "peak at", "cores")
    lines = ["  " + "".join(f"{h:>12}" for h in head)]
    for r in result["runs"]:
        cells = (
            f"{r['profiles']:,}",
            f"{r['seconds']:.1f}",
            f"{r['per_s']:,}",
            f"{r['peak_rss_mib']:.0f} MiB",
            f"{r['peak_at']:.0%}",
            f"{r['cores']:.2f}",
        )
        lines.append("  " + "".join(f"{c:>12}" for c in cells))
    lines.append(f"peak RSS x{result['rss_ratio']} for x{result['size_ratio']} the profiles; "
                 f"{result['marginal_per_s']:,} profiles/s between the sizes")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", type=int, default=1_000_000)
    p.add_argument("--also", type=int, default=100_000, help="a smaller size first (0: none)")
    p.add_argument("--users", type=int, default=3000, help="simulated users (the templates)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--activity", type=float, default=0.08, help="persona session-rate factor")
    p.add_argument("--chunk", type=int, default=10_000, help="profiles per MSET")
    args = p.parse_args(argv)
    result = on_redis(lambda url, external: run(args, url, external))
    path = save("insight", result)
    print(table(result))
    note(f"result: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
