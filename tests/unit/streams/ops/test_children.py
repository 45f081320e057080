"""The supervisor of ``--processes`` children (streams/ops/children.py), with real processes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from streams.ops.children import first_failure, run_children, stop_all

PY = sys.executable


def child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, "-c", code])


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["0", "0"], None),  # all done cleanly
        (["0", "3"], 3),  # one failed: its code
        (["__import__('os').kill(__import__('os').getpid(), 9)", "0"], -9),  # killed
    ],
)
def test_first_failure(codes: list[str], expected: int | None) -> None:
    children = [child(f"import sys; sys.exit({c})" if c.isdigit() else c) for c in codes]
    assert first_failure(children, poll_s=0.01) == expected
    stop_all(children)


def test_a_failure_stops_the_others_at_once() -> None:
    started = time.monotonic()
    argv = [
        PY,
        "-c",
        "import os, sys, time; time.sleep(60 if os.environ['N'] == '0' else 0.2); sys.exit(4)",
    ]
    failed = run_children(argv, [{"N": "0"}, {"N": "1"}])
    assert failed == 4
    assert time.monotonic() - started < 20  # the sleeper was stopped, not waited for


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready')"
    stubborn = subprocess.Popen([PY, "-u", "-c", code + "; time.sleep(60)"], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    started = time.monotonic()
    stop_all([stubborn], grace_s=0.5)
    assert stubborn.returncode == -9
    assert time.monotonic() - started < 10
    stubborn.stdout.close()
