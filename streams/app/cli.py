"""The ``portrait`` command: up, worker, simulate, profile get, replay, campaign and more.

Every failure a person can meet ends here as one line on stderr and an exit code of the README's
table (streams/app/errors.py words it): usage errors from the parser below included.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from streams.app.argtypes import NON_NEGATIVE, POSITIVE, PROCESSES, RATE, SHARE, USERS, moment
from streams.app.errors import explain
from streams.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, BootstrapLogFilter
from streams.settings.tree import Settings


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors in one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="portrait", description="Streaming real-time user profiles")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="embedded broker + Redis + worker (+ simulator)")
    up.add_argument("--simulate", action="store_true", help="also run the traffic simulator")
    up.add_argument("--users", type=USERS, default=2000)
    up.add_argument("--rate", type=RATE, default=300.0, help="simulated events per second")
    up.add_argument("--bad-rate", type=SHARE, default=0.002, help="share of malformed events")
    up.add_argument(
        "--for",
        dest="run_for",
        type=POSITIVE,
        default=None,
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    up.add_argument("--api-port", type=int, default=None, help="default: PORTRAIT_API_PORT, 8080")

    worker = sub.add_parser("worker", help="consume events into profiles (configured services)")
    worker.add_argument(
        "--show-changes",
        type=NON_NEGATIVE,
        default=None,
        metavar="PER_S",
        help="log up to PER_S users per second whose tags changed",
    )
    worker.add_argument(
        "--processes",
        type=PROCESSES,
        default=1,
        metavar="N",
        help="run N workers in one group, one per core (worker i serves metrics on port + i)",
    )

    sim = sub.add_parser("simulate", help="produce synthetic persona traffic")
    sim.add_argument("--users", type=USERS, default=1000)
    sim.add_argument("--rate", type=RATE, default=200.0, help="events per second")
    sim.add_argument("--duration", type=NON_NEGATIVE, help="seconds (default: forever)")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--bad-rate", type=SHARE, default=0.0, help="share of malformed events")
    sim.add_argument("--time-scale", type=POSITIVE, default=1.0)
    sim.add_argument(
        "--respond", action="store_true", help="also answer trigger messages as a simulated "
        "provider: feedback, and purchases with known probabilities (streams/sim/responder.py)",
    )  # fmt: skip

    profile = sub.add_parser("profile", help="read profiles")
    psub = profile.add_subparsers(dest="profile_command", required=True)
    get = psub.add_parser("get", help="print one user's profile as JSON")
    get.add_argument("user_id")
    get.add_argument("--as-of", type=moment, help="RFC 3339 or epoch ms (default: now)")
    erase = psub.add_parser("erase", help="erase everything stored about a user (GDPR)")
    erase.add_argument("user_id")
    erase.add_argument(
        "--suppress",
        action="store_true",
        help="also keep the user out: later events go to the DLQ (reason suppressed)",
    )
    unsuppress = psub.add_parser(
        "unsuppress", help="let a suppressed user's later events in again (consent given back)"
    )
    unsuppress.add_argument("user_id")
    export = psub.add_parser("export", help="print everything stored about a user as JSON")
    export.add_argument("user_id")

    formats = ("auto", "jsonl", "taobao", "rees46")  # streams.replay.sources.FORMATS
    rep = sub.add_parser("replay", help="replay an event log file into profiles (docs/replay.md)")
    rep.add_argument("path", help="the log: contract JSONL, Taobao UserBehavior or REES46 CSV")
    rep.add_argument("--format", choices=formats, default="auto", help="default: detected")
    rep.add_argument(
        "--via",
        choices=("direct", "kafka"),
        default="direct",
        help="direct: apply here, no Kafka (default); kafka: produce for a running worker",
    )
    rep.add_argument("--sort", action="store_true", help="replay in event-time order")
    rep.add_argument("--quiet", action="store_true", help="no progress line")
    rep.add_argument("--rejected", metavar="FILE", help="write the rejected rows here (JSONL)")
    rep.add_argument(
        "--emit-changes",
        action="store_true",
        help="publish the rule transitions on profile.changes (default: record them quietly)",
    )
    rep.add_argument(
        "--price-reference",
        metavar="FILE",
        help="category price table (JSON); default: profile.price_reference, else computed",
    )

    ref = sub.add_parser("price-reference", help="print the median price per category (JSON)")
    ref.add_argument("path", help="an event log, as for replay")
    ref.add_argument("--format", choices=formats, default="auto", help="default: detected")

    cut = sub.add_parser("rfm-cutoffs", help="RFM cut-offs from the quantiles of a log's buyers")
    cut.add_argument("path", help="an event log, as for replay")
    cut.add_argument("--format", choices=formats, default="auto", help="default: detected")
    cut.add_argument(
        "--as-of", type=moment, help="RFC 3339 or epoch ms (default: the log's last event)"
    )

    from streams.app.campaign_cli import add_parser as add_campaign_parser

    add_campaign_parser(sub)
    from streams.app.migrate_cli import add_parser as add_migrate_parser

    add_migrate_parser(sub)
    from streams.app.rules_cli import add_parsers as add_rules_parsers

    add_rules_parsers(sub)  # rules check, segment list|export, explain, tag set, model fit
    from streams.app.changes_cli import add_parser as add_changes_parser

    add_changes_parser(sub)
    from streams.api.server import add_parser as add_api_parser

    add_api_parser(sub)
    from streams.app.identity_cli import add_parser as add_identity_parser

    add_identity_parser(sub)
    from streams.app.insight_cli import add_parser as add_insight_parser

    add_insight_parser(sub)
    from streams.app.experiment_cli import add_parser as add_experiment_parser

    add_experiment_parser(sub)
    from streams.app.recall_cli import add_parser as add_recall_parser

    add_recall_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (README, "Exit codes")."""
    try:
        args = _parser().parse_args(argv)  # usage errors: Parser.error, one line and exit 2
    except SystemExit as done:  # also --help: returned, as every other exit code
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    _logging(args.verbose)
    name = f"portrait {args.command}" + (" get" if args.command == "profile" else "")
    if getattr(args, "subcommand", None):  # the rules commands: portrait segment export
        name += f" {args.subcommand}"
    settings: Settings | None = None
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        s = settings or Settings()
        known = explain(exc, kafka=s.kafka_bootstrap_servers, redis_url=s.redis_url,
                        config_path=s.config_path)  # fmt: skip
        if known is None:
            print(f"{name}: internal error (a bug; please report it):", file=sys.stderr)
            traceback.print_exc()
            return EXIT_BUG
        print(f"{name}: {known[0]}", file=sys.stderr)
        return known[1]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "faust", "mode", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("aiokafka").addFilter(BootstrapLogFilter())  # aiokafka.client's logger


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        from streams.app.runner import run_worker_main, run_worker_processes

        if args.processes > 1:
            return run_worker_processes(settings, args.processes, show_changes=args.show_changes)
        return run_worker_main(settings, show_changes=args.show_changes)
    if args.command == "simulate":
        from streams.app.runner import run_simulator_main

        return run_simulator_main(settings, args)
    if args.command == "profile" and args.profile_command in ("erase", "export", "unsuppress"):
        from streams.app.privacy_cli import privacy_main

        return privacy_main(settings, args)
    if args.command == "identity":
        from streams.app.identity_cli import identity_main

        return identity_main(settings, args)
    if args.command == "profile":
        from streams.app.read import profile_get_main

        return asyncio.run(profile_get_main(settings, args.user_id, args.as_of))
    if args.command == "replay":
        from streams.replay.command import replay_main

        return replay_main(settings, args)
    if args.command == "price-reference":
        from pathlib import Path

        from streams.replay.reference import price_reference_main

        return price_reference_main(Path(args.path), args.format)
    if args.command == "rfm-cutoffs":
        from pathlib import Path

        from streams.replay.cutoffs import rfm_cutoffs_main

        return rfm_cutoffs_main(Path(args.path), args.format, args.as_of, settings.model)
    if args.command == "campaign":
        from streams.app.campaign_cli import campaign_main

        return campaign_main(settings, args)
    if args.command == "migrate-keys":
        from streams.app.migrate_cli import migrate_keys_main

        return migrate_keys_main(settings, args)
    from streams.app.rules_cli import COMMANDS as RULES_COMMANDS

    if args.command in RULES_COMMANDS:
        from streams.app.rules_cli import rules_main

        return rules_main(settings, args)
    if args.command == "changes":
        from streams.app.changes_cli import changes_main

        return changes_main(settings, args)
    if args.command == "api":
        from streams.api.server import api_main

        return api_main(settings, args)
    if args.command == "insight":
        from streams.app.insight_cli import insight_main

        return insight_main(settings, args)
    if args.command == "experiment":
        from streams.app.experiment_cli import experiment_main

        return experiment_main(settings, args)
    if args.command == "recall":
        from streams.app.recall_cli import recall_main

        return recall_main(settings, args)
    if args.command == "up":
        from streams.app.up import up_main

        return up_main(settings, args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
