"""``portrait recall report`` over a million recall messages: time and peak RSS (issue 16).

    python -m bench.recall [--messages 1000000] [--also 100000] [--recalled 0.3]

1. **Redis.** ``REDIS_URL``, else an embedded valkey (stopped at the end). Keys live under a
   fresh namespace; on your own Redis they are unlinked at the end.
2. **Messages.** ``--messages`` recall messages to ``messages / 1.5`` users over 30 days, written
   as the feedback service's scripts leave them: each user's record hash and the ledger, with
   channels, campaigns, deliveries and clicks drawn from a seeded generator; ``--recalled`` of
   the messages recalled their user. Each recalled user gets a profile (one of a few hundred
   encoded states built through the pure model, active on random days of the follow-up).
3. **Report.** The real command in a child process, as a user runs it: ``python -m
   streams.app.cli recall report --since .. --until .. --as-of .. --json --quiet``, measured by
   bench/insight_measure.py (wall time, CPU, peak RSS of the command alone). The report must
   count every message written, or the run fails. The ``--also`` size runs first (the same
   namespace, a shorter period holding that many messages), so the two sizes show how time and
   memory grow.

Progress on stderr; the table on stdout; figures in ``bench/results/<stamp>-recall.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.progress import Progress, note
from bench.results import on_redis, save
from bench.throughput import code_digest, versions
from profiles.config import ModelConfig
from profiles.events import from_dict
from profiles.model import ProfileModel
from streams.names import Keys
from streams.store.feedback import ledger_member

DAY = 86_400_000
T0 = 1_700_000_000_000 // DAY * DAY
SPAN_DAYS = 30
CHANNELS = ("push", "sms", "email")
CAMPAIGNS = ("", "winback-spring", "winback-summer", "reactivation-q3")
TEMPLATES = 300


def templates(seed: int) -> list[bytes]:
    """Encoded states: a profile active on one day and on a few random days of the 30 after."""
    model, rng, out = ProfileModel(ModelConfig()), random.Random(seed), []
    for t in range(TEMPLATES):
        state = model.initial()
        days = [0, *rng.sample(range(1, 31), rng.randint(0, 4))]
        for offset, day in enumerate(sorted(days)):
            event = {"event_id": f"b{t}-{offset}", "type": "view", "user_id": "t",
                     "ts": T0 + day * DAY + 3_600_000}  # fmt: skip
            model.apply_event(state, from_dict(event), 0, offset)
        out.append(model.encode(state))
    return out


def write(client: redis.Redis, keys: Keys, n: int, share: float, seed: int) -> dict[str, int]:
    """``n`` messages over SPAN_DAYS; returns counts the report must show."""
    rng, states = random.Random(seed), templates(seed)
    users = max(1, int(n / 1.5))
    progress, pipe = Progress("messages written", n), client.pipeline(transaction=False)
    sent_per_day = n / SPAN_DAYS
    for i in range(n):
        user, sent = f"r{rng.randrange(users)}", T0 + int(i / sent_per_day * DAY)
        tid, channel, campaign = f"win_back-{i}", rng.choice(CHANNELS), rng.choice(CAMPAIGNS)
        delivered = sent + rng.randrange(1_000, 600_000) if rng.random() < 0.8 else 0
        clicked = "1" if delivered and rng.random() < 0.2 else "0"
        recalled = (delivered or sent) + rng.randrange(0, DAY) if rng.random() < share else 0
        kind = "campaign" if campaign else "win_back"
        record = [kind, channel, sent, delivered, (delivered or sent) + DAY,
                  "r" if recalled else "p", recalled, clicked, campaign]  # fmt: skip
        pipe.hset(keys.recall(user), tid, "|".join(map(str, record)))
        pipe.zadd(keys.recall_ledger, {ledger_member(tid, user): sent})
        if recalled:
            pipe.set(keys.profile(user), states[i % len(states)])
        if i % 5_000 == 4_999:
            pipe.execute()
            progress.update(i + 1)
    pipe.execute()
    progress.update(n, force=True)
    return {"messages": n, "users": users}


def run_report(url: str, ns: str, until_days: int, work: Path) -> dict[str, Any]:
    config = work / "portrait.yaml"
    config.write_text(f"topics: {{prefix: '{ns}'}}\n", encoding="utf-8")
    env = {**os.environ, "REDIS_URL": url, "PORTRAIT_CONFIG": str(config)}
    out = work / f"measure-{until_days}.json"
    report = work / f"report-{until_days}.json"
    since, until = T0, T0 + until_days * DAY
    as_of = T0 + 90 * DAY
    cmd = [sys.executable, "-m", "streams.app.cli", "recall", "report", "--since", str(since),
           "--until", str(until), "--as-of", str(as_of), "--json", "--quiet"]  # fmt: skip
    helper = [sys.executable, "-m", "bench.insight_measure", str(out), "sh", "-c",
              " ".join(cmd) + f" > {report}"]  # fmt: skip
    subprocess.run(helper, check=True, env=env)
    measured: dict[str, Any] = orjson.loads(out.read_bytes())
    measured["report"] = orjson.loads(report.read_bytes())["overall"]
    return measured


def run(args: argparse.Namespace, url: str, external: bool) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    ns = f"benchrecall{uuid.uuid4().hex[:6]}."
    keys = Keys(ns)
    try:
        write(client, keys, args.messages, args.recalled, args.seed)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for days in sorted({max(1, round(SPAN_DAYS * args.also / args.messages)), SPAN_DAYS}):
                expected = int(client.zcount(keys.recall_ledger, T0, f"({T0 + days * DAY}"))
                note(f"recall report over {days} days ({expected:,} messages) ...")
                m = run_report(url, ns, days, Path(tmp))
                if m["code"] != 0 or m["report"]["sent"] != expected:
                    raise SystemExit(f"the report over {days} days is wrong: {m['report']}")
                rows.append({"days": days, "messages": expected, **m})
    finally:
        if external:
            for key in client.scan_iter(f"*{ns}*", count=10_000):
                client.unlink(key)
        client.close()
    return {"rows": rows, "recalled_share": args.recalled, "seed": args.seed,
            "code": code_digest(), "versions": versions()}  # fmt: skip


def table(result: dict[str, Any]) -> str:
    """One row per size; the last column is the growth of the peak RSS per extra message
    against the first (smaller) size: what the period's messages cost in memory."""
    head = "| messages | users recalled | seconds | messages/s | CPU s | peak RSS MiB | bytes/msg |"
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|"]
    first = result["rows"][0]
    for r in result["rows"]:
        extra = r["messages"] - first["messages"]
        growth = (r["peak_rss_kib"] - first["peak_rss_kib"]) * 1024 / extra if extra else 0
        lines.append(
            f"| {r['messages']:,} | {r['report']['recalled']:,} | {r['seconds']:.1f} |"
            f" {r['messages'] / r['seconds']:,.0f} | {r['cpu_seconds']:.1f} |"
            f" {r['peak_rss_kib'] / 1024:.0f} | {f'{growth:,.0f}' if extra else '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.recall", description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--also", type=int, default=100_000, help="a smaller size measured first")
    p.add_argument("--recalled", type=float, default=0.3, help="share of messages that recalled")
    p.add_argument("--seed", type=int, default=16)
    args = p.parse_args(argv)
    result = on_redis(lambda url, external: run(args, url, external))
    path = save("recall", result)
    print(table(result))
    note(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
