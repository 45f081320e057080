"""``portrait model fit TAG --label ATTRIBUTE [--positive VALUE] [--rules FILE]``: train a model
tag from the stored profiles whose declared attribute is known, report it, and write the
coefficients into the rules file (streams/app/model_fit.py does the pure parts).

Every profile is read once (SCAN, then MGET in chunks): the labelled ones train and test; all of
them count for the coverage, the share of profiles with at least one known feature (the others
all get the intercept's score in the stream).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from profiles.events import TRAIT_NAMES
from profiles.model import ProfileModel
from profiles.rules import Logistic, RulesError, TagRule, load_rules, read_inputs
from streams.app.model_fit import (
    Fit,
    feature_names,
    feature_row,
    fit_logistic,
    new_model_block,
    positive_value,
    rewrite_model,
)
from streams.app.read import parse_as_of
from streams.app.rules_text import unknown_name
from streams.connect.clients import redis_client
from streams.errors import CommandError, NotFound
from streams.ops.progress import ProgressLine
from streams.settings.tree import Settings
from streams.store.profiles import ProfileStore

NAME: Final = "portrait model fit"
CHUNK: Final = 1000


@dataclass
class Sample:
    """What the scan of the profiles gathered."""

    profiles: int = 0
    covered: int = 0
    rows: list[list[float]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def model_of(text: str, path: str, tag: str) -> Logistic:
    """The model of ``tag`` in the rules file's text; a one-line error otherwise."""
    try:
        rules = load_rules(text, path)
    except RulesError as exc:
        raise CommandError(str(exc)) from None
    rule = rules.find(tag)
    models = [t.name for t in rules.tags if t.model is not None]
    if not isinstance(rule, TagRule) or rule.model is None:
        raise unknown_name("model tag", tag, models)
    return rule.model


def rules_path(settings: Settings, given: str | None) -> str:
    if given is not None:
        return given
    source = settings.rules_source
    if source.path is None or source.inline:
        raise CommandError(
            f"the rules come from {source.name}: name the rules file to write with --rules FILE"
        )
    return source.path


async def gather(
    settings: Settings, model: Logistic, attribute: str, as_of_ms: int, quiet: bool
) -> Sample:
    """Features and labels of every stored profile."""
    profile_model = ProfileModel(settings.model)
    needed = frozenset(tag for tag, _, _ in model.features)
    progress = ProgressLine(NAME, enabled=not quiet)
    sample = Sample()
    redis = redis_client(settings, socket_connect_timeout=5, socket_timeout=60)
    try:
        store = ProfileStore(redis, settings.topics.prefix, chunk=CHUNK)
        users = sorted(await store.user_ids())  # a split that does not follow SCAN order
        for start in range(0, len(users), CHUNK):
            for state in (await store.load_many(users[start : start + CHUNK])).values():
                row, known = feature_row(model, read_inputs(profile_model, state, as_of_ms, needed))
                sample.profiles += 1
                sample.covered += known
                label = profile_model.attributes.values(state.attributes).get(attribute)
                if label is not None:
                    sample.rows.append(row)
                    sample.labels.append(str(label))
            progress.update(sample.profiles, sample.profiles / len(users))
    finally:
        await redis.aclose()
    progress.finish(f"{sample.profiles:,} profiles, {len(sample.labels):,} labelled")
    return sample


def report(tag: str, attribute: str, positive: str, sample: Sample, fit: Fit) -> str:
    coverage = sample.covered / sample.profiles if sample.profiles else 0.0
    lines = [
        f"{NAME} {tag}: {len(sample.labels):,} of {sample.profiles:,} profiles labelled by"
        f" {attribute} (positive: {positive!r}, {fit.positives:,})",
        f"held-out {fit.test:,} (trained on {fit.train:,}): accuracy {fit.accuracy:.3f},"
        f" AUC {fit.auc:.3f}; coverage {coverage:.1%} (profiles with a known feature)",
        f"intercept {fit.intercept:.6g}",
        *(f"  {name}: {value:.6g}" for name, value in fit.features().items()),
    ]
    return "\n".join(lines)


def write_atomically(path: str, text: str) -> None:
    """Replace the file in one rename, keeping its mode (a reader never sees half of it)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def model_fit_main(settings: Settings, args: argparse.Namespace) -> int:
    """0 with the report on stdout, the rules file rewritten unless ``--dry-run``."""
    if args.label not in TRAIT_NAMES:
        raise unknown_name("declared attribute", args.label, TRAIT_NAMES)
    path = rules_path(settings, args.rules)
    text = Path(path).read_text(encoding="utf-8")
    model = model_of(text, path, args.tag)
    as_of_ms = parse_as_of(args.as_of)
    sample = asyncio.run(gather(settings, model, args.label, as_of_ms, args.quiet))
    if not sample.labels:
        raise NotFound(f"no stored profile (of {sample.profiles:,}) has a declared {args.label}")
    positive = positive_value(args.positive, Counter(sample.labels), args.label)
    labels = [int(label == positive) for label in sample.labels]
    fit = fit_logistic(sample.rows, labels, feature_names(model), args.test_share)
    print(report(args.tag, args.label, positive, sample, fit))
    if args.dry_run:
        return 0
    old = {"kind": "logistic", **model.spec()}
    new_text = rewrite_model(text, args.tag, new_model_block(_declared(text, args.tag, old), fit))
    written = model_of(new_text, path, args.tag)
    if dict(zip(feature_names(written), (c for _, _, c in written.features), strict=True)) != (
        fit.features()
    ):
        raise CommandError(f"{path}: the rewritten model block does not read back; left as is")
    write_atomically(path, new_text)
    print(f"{NAME}: wrote {len(fit.names)} coefficients and the intercept into {path}")
    return 0


def _declared(text: str, tag: str, fallback: dict[str, object]) -> dict[str, object]:
    """The tag's model mapping as the file writes it (its keys, in its order)."""
    import yaml

    data = yaml.safe_load(text)
    for item in data.get("tags", []) if isinstance(data, dict) else []:
        if (
            isinstance(item, dict)
            and item.get("name") == tag
            and isinstance(item.get("model"), dict)
        ):
            return dict(item["model"])
    return fallback
