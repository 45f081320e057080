"""The pure per-user work of a batch, part by part, without services or a profiler.

    python -m bench.peruser [--events 100000] [--batch 2000] [--source synthetic|taobao|rees46]
                            [--rules default|none|pack|FILE] [--repeat 3]

Cuts the source's events into batches of ``--batch`` records, groups each batch by user, and for
every user of every batch does what the worker's ``apply_user`` does in CPU (streams/pipeline/
apply.py): apply the events, settle (compact, evaluate and record the segments), evaluate the
business rules and find the next due moment. Prints the CPU of each part per user-batch, the
median of ``--repeat`` runs. ``bench.hotpath`` times the whole batch processor against a real
Redis and lists functions under cProfile, whose overhead is uneven across them; this measures
the parts plainly, so that a change to one of them can be compared against a checkout without
it (run it in both, one after the other, and repeat).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.progress import Progress, note
from bench.rules_run import CHOICES, resolve
from bench.sources import SOURCES, events
from profiles.events import Event
from profiles.model import ProfileModel, State
from profiles.rules.engine import RulesEngine
from profiles.rules.ruleset import RuleSet
from profiles.wire import decode
from streams.pipeline.gc_tuning import tune_gc

PARTS = ("apply", "settle", "rules")


Batch = dict[str, list[Event]]  # user id -> the user's events of one batch, in order


def cut(located: list[tuple[str, Event]], size: int) -> list[Batch]:
    """The events in batches of ``size``, each grouped by user."""
    batches: list[Batch] = []
    for start in range(0, len(located), size):
        batch: Batch = defaultdict(list)
        for uid, event in located[start : start + size]:
            batch[uid].append(event)
        batches.append(batch)
    return batches


def run(
    batches: list[Batch], rules: RuleSet, progress: bool = True
) -> tuple[dict[str, float], int, dict[str, State]]:
    """Seconds of CPU per part over every user-batch, the number of user-batches, and the
    states at the end."""
    model = ProfileModel()
    engine = RulesEngine(model, rules)
    states: dict[str, State] = {}
    spent = dict.fromkeys(PARTS, 0.0)
    clock = time.process_time
    users = 0
    shown = Progress("batches", len(batches)) if progress else None
    for done, batch in enumerate(batches, 1):
        for uid, evs in batch.items():
            state = states.get(uid) or model.initial()
            a = clock()
            for event in evs:
                model.apply_event(state, event)
            b = clock()
            model.settle(state)
            c = clock()
            engine.apply(uid, state, engine.moment(state), "event")
            state.rules.due = engine.due(state, state.rules.at)
            d = clock()
            spent["apply"] += b - a
            spent["settle"] += c - b
            spent["rules"] += d - c
            states[uid] = state
        users += len(batch)
        if shown is not None:
            shown.update(done, force=done == len(batches))
    return spent, users, states


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--source", choices=SOURCES, default="synthetic")
    p.add_argument("--batch", type=int, default=2_000)
    p.add_argument("--rules", default="default", metavar="|".join(CHOICES))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.batch < 1 or args.events < 1 or args.repeat < 1:
        raise SystemExit("--batch, --events and --repeat must be at least 1")
    with tempfile.TemporaryDirectory() as workdir:
        rules = resolve(args.rules, Path(workdir)).rules
    note(f"reading {args.events} {args.source} events ...")
    records = events(args.source, args.events, args.users, "b-")
    located = [(key.decode(), decode(value)) for key, value in records]
    batches = cut(located, args.batch)
    tune_gc()
    runs = [run(batches, rules) for _ in range(args.repeat)]
    users = runs[0][1]
    per = {part: statistics.median(r[0][part] for r in runs) / users * 1e6 for part in PARTS}
    print(
        f"{args.source}: {len(located)} events, batches of {args.batch}, {users} user-batches "
        f"({len(located) / users:.2f} events each); CPU per user-batch, median of {args.repeat}: "
        + ", ".join(f"{part} {us:.1f} us" for part, us in per.items())
        + f"; total {sum(per.values()):.1f} us"
    )


if __name__ == "__main__":
    main()
