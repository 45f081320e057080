"""``portrait insight AUDIENCE [AUDIENCE ...] [--where COND] [--as-of T] --out report.html``.

Each audience is a segment of the rules (or ``all``: every profile); they are read one after
the other, each in chunks with a progress line (streams/insight/scan.py), tallied in bounded
memory, compared side by side with named tests and effect sizes (profiles/insight/), and written
as one self-contained HTML file with the same report as JSON and each figure as PNG beside it
(streams/insight/html.py). docs/insight.md shows it on the replayed REES46 and Taobao logs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from streams.app.argtypes import moment
from streams.app.read import parse_as_of
from streams.connect.clients import redis_client
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings


def add_parser(sub: Any) -> None:
    insight = sub.add_parser(
        "insight", help="portraits of segments side by side: an HTML report with charts and tests"
    )
    insight.add_argument(
        "audiences", nargs="+", metavar="SEGMENT", help="a segment of the rules, or 'all'"
    )
    insight.add_argument(
        "--where", metavar="COND", help="narrow every audience, written as a segment's where "
        "(YAML or JSON, e.g. '{lifecycle: active}')",
    )  # fmt: skip
    insight.add_argument("--as-of", type=moment, help="tags as of (default: now)")
    insight.add_argument(
        "--out", required=True, metavar="FILE.html", help="the report; .json and .figures/ beside"
    )
    insight.add_argument("--quiet", action="store_true", help="no progress line")


def insight_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 once the report is written (the HTML, its JSON and PNG figures)."""
    from streams.insight.html import write  # matplotlib: a one-line error when missing
    from streams.insight.request import check_audiences, parse_where, report, scan_audiences

    rules = settings.rules
    names = check_audiences(args.audiences, rules)
    where, spec = parse_where(args.where, rules)
    as_of_ms = parse_as_of(args.as_of)

    def progress(name: str, i: int, n: int) -> ProgressLine:
        return ProgressLine(f"portrait insight {name} ({i}/{n})", enabled=not args.quiet)

    async def scan() -> Any:
        from profiles.model import ProfileModel

        redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
        try:
            model, ns = ProfileModel(settings.model), settings.topics.prefix
            return await scan_audiences(redis, ns, model, rules, names, as_of_ms, where, progress)
        finally:
            await redis.aclose()

    document = report(asyncio.run(scan()), as_of_ms, spec)
    out = Path(args.out)
    write(document, out)
    print(
        f"wrote {out} (and {out.with_suffix('.json').name}, {out.stem}.figures/): "
        f"{len(names)} audiences, {document['tests']} tests, {document['significant']} "
        "significant",
        file=sys.stderr,
    )
    return 0
