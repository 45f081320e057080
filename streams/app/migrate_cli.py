"""``portrait migrate-keys [--dry-run]``: rename the Redis keys of the earlier naming rules
(streams/store/migrate.py; docs/operations.md, "Key scheme and migration")."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from streams.connect.clients import redis_client
from streams.settings.tree import Settings
from streams.store.migrate import Tally, migrate_keys

NAME = "portrait migrate-keys"


def add_parser(sub: Any) -> None:
    """The ``migrate-keys`` subcommand, on the ``portrait`` parser's subparsers."""
    p = sub.add_parser("migrate-keys", help="move Redis keys to the namespaced key scheme")
    p.add_argument("--dry-run", action="store_true", help="count the keys to move, move none")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def migrate_keys_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 with the tally on stdout (a run that finds nothing to move included)."""
    namespace = settings.topics.prefix
    if not namespace:
        print(f"{NAME}: topics.prefix is empty: the old and new key names are the same")
        return 0
    tally = asyncio.run(_run(settings, dry_run=args.dry_run, quiet=args.quiet))
    print(
        f"{NAME} ({namespace!r}{', dry run' if args.dry_run else ''}): {tally.line(args.dry_run)}"
    )
    return 0


async def _run(settings: Settings, *, dry_run: bool, quiet: bool) -> Tally:
    shown = [0.0]

    def progress(tally: Tally) -> None:
        now = time.monotonic()
        if not quiet and now - shown[0] >= 1.0:
            shown[0] = now
            print(f"{NAME}: {tally.line(dry_run)}", file=sys.stderr, flush=True)

    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        return await migrate_keys(redis, settings.topics.prefix, dry_run=dry_run, progress=progress)
    finally:
        await redis.aclose()
