"""The command line's argument types: bounded numbers and moments, each refused in one line
(tests/unit/streams/app/test_cli_args.py goes through every one)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from profiles.events import Rejected, parse_moment


def number(
    kind: Callable[[str], float], low: float, *, above: bool = False, high: float = math.inf
) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` number, at least ``low`` (more than, with ``above``)
    and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not (value > low if above else value >= low) or value > high:
            bound = f"more than {low:,.15g}" if above else f"at least {low:,.15g}"
            upto = f" and at most {high:,.15g}" if math.isfinite(high) else ""
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}{upto}")
        return value

    return parse


USERS = number(int, 1, high=1_000_000)  # the simulator holds every user (about 1 KB each)
POSITIVE = number(float, 0, above=True)
RATE = number(float, 0, above=True, high=1_000_000)  # events/s: far above what one process sends
NON_NEGATIVE = number(float, 0)
SHARE = number(float, 0, high=1)
PROCESSES = number(int, 1, high=256)  # children of one supervisor (a worker or API per core)


def moment(text: str) -> str:
    """An argparse type for --as-of / --now: RFC 3339 or epoch ms, checked here, kept as given."""
    try:
        parse_moment(text)
    except Rejected as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None
    return text
