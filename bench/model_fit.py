"""A purchase-gender model tag fitted and applied end to end, on the simulator's known truth.

    python -m bench.model_fit [--users 3000] [--days 7] [--declared 0.8] [--seed 42]
                              [--write-example]
    make model-fit

1. Persona traffic (streams/sim) for ``--users`` users over ``--days`` simulated days; favourite
   categories lean by gender (streams/sim/tastes.py). A seeded ``--declared`` share of the users
   declare their gender in their identify event; the others' identify carries no gender.
2. The events go through the worker's batch processor (decode, model, fenced writes; no Kafka)
   into an embedded valkey, or ``REDIS_URL`` under a fresh key prefix (deleted afterwards).
3. ``portrait model fit likely_gender --label gender --positive female`` (the CLI's functions,
   over the profiles in user-id order) on a copy of docs/examples/rules/purchase_gender_model.yaml:
   held-out accuracy and AUC, coverage, the coefficients, written into the copy.
4. One more simulated day goes through a processor running the fitted rules: the tag values the
   stream stored are compared with ``RuleSet.evaluate`` over ``read_inputs``; then every
   undeclared user is scored and the result compared with the gender the simulator gave them.

The labels are the simulator's own draws, not real customers: the figures say that the fit and
the stream work and what a moderate lean gives, not how well gender is guessed in a real shop.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Final

import yaml

from bench.model_fit_feed import Feeder, Truth, simulate
from bench.progress import note
from profiles.model import ProfileModel
from profiles.rules import RuleSet, load_rules_file, read_inputs
from streams.app.embedded import EmbeddedRedis
from streams.app.model_cli import Sample, model_of
from streams.app.model_cli import report as fit_report
from streams.app.model_fit import (
    feature_names,
    feature_row,
    fit_logistic,
    new_model_block,
    rewrite_model,
)
from streams.connect.clients import redis_client
from streams.errors import CommandError
from streams.settings.tree import Settings, TopicsConfig
from streams.store.profiles import ProfileStore

ROOT: Final = Path(__file__).resolve().parents[1]
EXAMPLE: Final = ROOT / "docs" / "examples" / "rules" / "purchase_gender_model.yaml"
TAG: Final = "likely_gender"
DAY: Final = 86_400_000
T0: Final = 1_717_372_800_000  # 2024-06-03T00:00:00Z
SHOWN: Final = 6  # stored profiles printed in step 4


async def gather(settings: Settings, rules_text: str, as_of_ms: int) -> Sample:
    """What ``portrait model fit`` gathers (streams/app/model_cli.py), in user-id order: the
    CLI takes Redis's SCAN order, which changes from one Redis process to the next, and with it
    the held-out split (so its figures would not repeat run to run)."""
    model = model_of(rules_text, EXAMPLE.name, TAG)
    profile_model = ProfileModel(settings.model)
    needed = frozenset(tag for tag, _, _ in model.features)
    sample = Sample()
    redis = redis_client(settings)
    try:
        store = ProfileStore(redis, settings.topics.prefix)
        users = sorted(await store.user_ids())
        for start in range(0, len(users), 1000):
            chunk = users[start : start + 1000]
            states = await store.load_many(chunk)
            for uid in chunk:
                row, known = feature_row(
                    model, read_inputs(profile_model, states[uid], as_of_ms, needed)
                )
                sample.profiles += 1
                sample.covered += known
                label = profile_model.attributes.values(states[uid].attributes).get("gender")
                if label is not None:
                    sample.rows.append(row)
                    sample.labels.append(str(label))
    finally:
        await redis.aclose()
    return sample


def fit(settings: Settings, rules_file: Path, as_of_ms: int) -> RuleSet:
    """Step 3, as ``portrait model fit likely_gender --label gender --positive female`` does it
    (the same functions, test share 0.2): report, and write the coefficients into the file."""
    text = rules_file.read_text(encoding="utf-8")
    sample = asyncio.run(gather(settings, text, as_of_ms))
    labels = [int(label == "female") for label in sample.labels]
    model = model_of(text, EXAMPLE.name, TAG)
    result = fit_logistic(sample.rows, labels, feature_names(model), 0.2)
    print(fit_report(TAG, "gender", "female", sample, result))
    old = next(t["model"] for t in yaml.safe_load(text)["tags"] if t["name"] == TAG)
    rules_file.write_text(rewrite_model(text, TAG, new_model_block(old, result)), encoding="utf-8")
    return load_rules_file(rules_file)


async def feed_days(settings: Settings, feeder: Feeder, rules: RuleSet | None, days: int) -> int:
    redis = redis_client(settings)
    try:
        return await feeder.feed(redis, settings, rules, days)
    finally:
        await redis.aclose()


async def judge(settings: Settings, rules: RuleSet, truth: Truth, as_of_ms: int) -> dict[str, Any]:
    """Step 4: stored tag values against the rules' own evaluation, and the undeclared users'
    scores against their simulated gender."""
    model = ProfileModel(settings.model)
    redis = redis_client(settings)
    agree = stored = 0
    scored: Counter[tuple[str, str | None]] = Counter()  # (true gender, value)
    shown: list[str] = []
    try:
        store = ProfileStore(redis, settings.topics.prefix)
        users = sorted(await store.user_ids())
        for start in range(0, len(users), 1000):
            for uid, state in (await store.load_many(users[start : start + 1000])).items():
                inputs = read_inputs(model, state, as_of_ms, rules.inputs)
                value = rules.evaluate(inputs)[0][TAG]
                if TAG in state.rules.values:
                    stored += 1
                    agree += state.rules.values[TAG] == value
                    if len(shown) < SHOWN:
                        shown.append(_line(uid, truth, inputs, state.rules.values[TAG], value))
                if uid not in truth.declared:
                    scored[truth.gender[uid], value] += 1
    finally:
        await redis.aclose()
    return {"stored": stored, "agree": agree, "scored": scored, "shown": shown}


def _line(uid: str, truth: Truth, inputs: dict[str, Any], stored: Any, value: Any) -> str:
    shares = sorted(inputs["category_affinity"].items(), key=lambda kv: -kv[1])[:3]
    top = ", ".join(f"{k} {v:.2f}" for k, v in shares)
    declared = "declared" if uid in truth.declared else "undeclared"
    return (
        f"  {uid} ({truth.gender[uid]}, {declared}): {top}"
        f" -> stream stored {stored!r}, RuleSet.evaluate {value!r}"
    )


def report(result: dict[str, Any]) -> None:
    print(f"\nstep 4: the stream applies the fitted coefficients ({TAG} per profile)")
    print("\n".join(result["shown"]))
    print(
        f"  {result['agree']:,} of {result['stored']:,} profiles the stream evaluated with the"
        " fitted rules hold the value RuleSet.evaluate gives"
    )
    scored: Counter[tuple[str, str | None]] = result["scored"]
    total = sum(scored.values())
    print(f"\nundeclared users ({total:,}) scored by the fitted tag, against their known gender")
    for value in ("female", "male"):
        n = sum(c for (_, v), c in scored.items() if v == value)
        print(f"  scored {value}: {n:,} ({n / max(total, 1):.1%})")
    for gender in ("female", "male", "non_binary"):
        row = {v: c for (g, v), c in scored.items() if g == gender}
        n = sum(row.values())
        if n:
            print(f"  truly {gender} ({n:,}): scored female {row.get('female', 0) / n:.1%}")
    right = scored["female", "female"] + scored["male", "male"]
    binary = sum(c for (g, _), c in scored.items() if g != "non_binary")
    print(f"  right (women and men): {right:,} of {binary:,} = {right / max(binary, 1):.1%}")


def run(args: argparse.Namespace, settings: Settings, workdir: Path) -> int:
    rules_file = workdir / EXAMPLE.name
    shutil.copyfile(EXAMPLE, rules_file)
    truth, feeder = simulate(args.users, args.seed, args.declared, T0)
    note(f"step 1-2: {args.users:,} users, {args.days} simulated days, {args.declared:.0%} declare")
    events = asyncio.run(feed_days(settings, feeder, None, args.days))
    declared = len(truth.declared & truth.gender.keys())
    print(f"step 1-2: {events:,} simulated events into Redis, {len(truth.gender):,} users seen,"
          f" {declared:,} declared their gender (seed {args.seed})")  # fmt: skip
    print(f"\nstep 3: portrait model fit {TAG} --label gender --positive female")
    fitted = fit(settings, rules_file, feeder.clock)
    same = fitted.version == load_rules_file(EXAMPLE).version
    print(f"  {EXAMPLE.relative_to(ROOT)}: {'the same model' if same else 'a different model'}")
    if args.write_example and not same:
        shutil.copyfile(rules_file, EXAMPLE)
        print(f"  wrote the fitted model into {EXAMPLE.relative_to(ROOT)} (docs/rules.md shows it)")
    more = asyncio.run(feed_days(settings, feeder, fitted, 1))
    print(f"  one more simulated day ({more:,} events) through a processor with the fitted rules")
    report(asyncio.run(judge(settings, fitted, truth, feeder.clock)))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--days", type=int, default=7, help="simulated days before the fit")
    p.add_argument("--declared", type=float, default=0.8, help="share declaring their gender")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--write-example", action="store_true", help=f"update {EXAMPLE.name}")
    args = p.parse_args()
    if args.users < 10 or args.days < 1 or not 0 < args.declared < 1:
        p.error("need --users >= 10, --days >= 1 and 0 < --declared < 1")
    url = os.environ.get("REDIS_URL")
    server = None if url else EmbeddedRedis()
    if server is not None:
        server.start()
    prefix = f"modelfit{random.getrandbits(32):08x}." if url else ""
    settings = dataclasses.replace(
        Settings(), redis_url=url or server.url,  # type: ignore[union-attr]
        topics=TopicsConfig(prefix=prefix),
    )  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="portrait-model-fit-") as tmp:
            return run(args, settings, Path(tmp))
    except CommandError as exc:  # too few labelled profiles of a class, no scikit-learn
        print(f"bench.model_fit: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        else:
            asyncio.run(_drop(settings))


async def _drop(settings: Settings) -> None:
    """Delete the run's keys from a Redis of one's own (they all start with its prefix)."""
    redis = redis_client(settings)
    try:
        async for key in redis.scan_iter(f"{settings.topics.prefix}*", 1000):
            await redis.delete(key)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(main())
