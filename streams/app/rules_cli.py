"""``portrait rules check``, ``portrait segment list|export``, ``portrait explain``,
``portrait tag set`` and ``portrait model fit``: the business rules from the command line
(docs/rules.md, "CLI").

The parsers and the small commands live here; the export (segment_export.py), manual tagging
(tag_cli.py) and model training (model_cli.py, model_fit.py) have their own modules.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from profiles.model import ProfileModel
from profiles.rules import RulesError, RuleSet, load_rules_file, read_inputs
from profiles.timeutil import rfc3339
from streams.app.read import parse_as_of
from streams.app.rules_text import condition_json, explain_lines, unknown_name
from streams.connect.clients import redis_client
from streams.errors import CommandError, NotFound
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore
from streams.store.segments import SegmentStore

COMMANDS = ("rules", "segment", "explain", "tag", "model")


def add_parsers(sub: Any) -> None:
    """The rules commands, on the ``portrait`` parser's subparsers (``subcommand``: the word
    after the command, for the error lines' ``portrait segment export: ...``)."""
    from streams.app.argtypes import SHARE, moment

    rules = sub.add_parser("rules", help="check a rules file (docs/rules.md)")
    rsub = rules.add_subparsers(dest="subcommand", required=True, metavar="{check}")
    check = rsub.add_parser("check", help="parse and type-check a rules file")
    check.add_argument("file", help="the rules file (YAML)")

    segment = sub.add_parser("segment", help="list segments, export their members")
    ssub = segment.add_subparsers(dest="subcommand", required=True, metavar="{list,export}")
    ssub.add_parser("list", help="one JSON object per segment: name, size, where, description")
    export = ssub.add_parser("export", help="stream every member of a segment")
    export.add_argument("name")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--tags", default="", help="comma-separated tags to add as columns")
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.add_argument("--as-of", type=moment, help="built-in tags as of (default: now)")
    export.add_argument("--quiet", action="store_true", help="no progress line")

    exp = sub.add_parser("explain", help="why a user has a rule tag's value or a segment")
    exp.add_argument("user_id")
    exp.add_argument("name", help="a rule tag or a segment")
    exp.add_argument("--as-of", type=moment, help="RFC 3339 or epoch ms (default: now)")

    tag = sub.add_parser("tag", help="set manual tags")
    tsub = tag.add_subparsers(dest="subcommand", required=True, metavar="{set}")
    tset = tsub.add_parser("set", help="set a manual tag on the users of a file (audited)")
    tset.add_argument("name")
    tset.add_argument("value", help="a JSON scalar (true, 3, null) or text")
    tset.add_argument("--users", required=True, metavar="FILE", help="one user id a line; -: stdin")
    tset.add_argument("--actor", help="who asks (audit; default: the login name)")
    tset.add_argument(
        "--at", type=moment, help="the tagging time (default: now); the same --at retries a run"
    )
    tset.add_argument("--quiet", action="store_true", help="no progress line")

    model = sub.add_parser("model", help="train model tags")
    msub = model.add_subparsers(dest="subcommand", required=True, metavar="{fit}")
    fit = msub.add_parser("fit", help="fit a model tag's coefficients from labelled profiles")
    fit.add_argument("tag")
    fit.add_argument("--label", required=True, metavar="ATTRIBUTE", help="e.g. gender")
    fit.add_argument("--positive", metavar="VALUE", help="the label value scored 1")
    fit.add_argument("--rules", metavar="FILE", help="default: PORTRAIT_RULES")
    fit.add_argument("--test-share", type=SHARE, default=0.2)
    fit.add_argument("--as-of", type=moment, help="features as of (default: now)")
    fit.add_argument("--dry-run", action="store_true", help="report, leave the file as it is")
    fit.add_argument("--quiet", action="store_true", help="no progress line")


def rules_main(settings: Settings, args: argparse.Namespace) -> int:
    """Run one of the rules commands: 0 on success; failures raise (streams.errors)."""
    command = (args.command, getattr(args, "subcommand", None))
    if command == ("rules", "check"):
        return check_main(args.file)
    if command == ("segment", "list"):
        return asyncio.run(segment_list(settings))
    if command == ("segment", "export"):
        from streams.app.segment_export import export_main

        return export_main(settings, args)
    if command == ("explain", None):
        return asyncio.run(explain_main(settings, args.user_id, args.name, args.as_of))
    if command == ("tag", "set"):
        from streams.app.tag_cli import tag_set_main

        return tag_set_main(settings, args)
    if command == ("model", "fit"):
        from streams.app.model_cli import model_fit_main

        return model_fit_main(settings, args)
    raise AssertionError(command)


def load_checked(path: str) -> RuleSet:
    """A rules file, or its error in one line (``FILE:LINE:COL: message``)."""
    try:
        return load_rules_file(path)
    except RulesError as exc:
        raise CommandError(str(exc)) from None


def check_main(path: str) -> int:
    rules = load_checked(path)
    print(f"ok: {len(rules.tags)} tags, {len(rules.segments)} segments, version {rules.version}")
    return 0


async def segment_list(settings: Settings) -> int:
    """One JSON line per segment of the current rules, its size exact (SCARD)."""
    rules = settings.rules
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        store = SegmentStore(redis, settings.topics.prefix)
        sizes = await store.sizes([seg.name for seg in rules.segments])
    finally:
        await redis.aclose()
    for seg in rules.segments:
        doc = {"name": seg.name, "size": sizes[seg.name], "where": condition_json(seg.where),
               "description": seg.description}  # fmt: skip
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
    return 0


def names_of(rules: RuleSet) -> list[str]:
    return [t.name for t in rules.tags] + [s.name for s in rules.segments]


async def explain_main(settings: Settings, user_id: str, name: str, as_of: str | None) -> int:
    """Each clause of a rule tag or a segment with the user's value, and the outcome."""
    rules = settings.rules
    if rules.find(name) is None:
        raise unknown_name("rule tag or segment", name, names_of(rules))
    as_of_ms = parse_as_of(as_of)
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=30)
    try:
        state = await ProfileStore(redis, settings.topics.prefix).get(user_id)
    finally:
        await redis.aclose()
    if state is None:
        raise NotFound(f"no profile for user {user_id!r}")
    tags = read_inputs(ProfileModel(settings.model), state, as_of_ms, rules.inputs)
    values, members = rules.evaluate(tags)
    is_segment = name in {s.name for s in rules.segments}
    kind = "segment" if is_segment else "tag"
    print(f"{kind} {name} for {user_id} as of {rfc3339(as_of_ms)} (rules {rules.version})")
    # the rule tags' values too, for a segment that reads them (explain may compute them again)
    for line in explain_lines(rules.explain(name, {**tags, **values})):
        print(line)
    if is_segment:
        print(f"=> {'in' if name in members else 'not in'} segment {name}")
    else:
        print(f"=> {name} = {orjson.dumps(values.get(name)).decode()}")
    return 0
