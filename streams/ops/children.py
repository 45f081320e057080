"""Child processes of one command, supervised together: ``portrait api --processes N`` and
``portrait worker --processes N`` start N copies of themselves and stop them all when one fails
or a signal comes (a process supervisor above, systemd or Kubernetes, restarts the whole)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

STOP_GRACE_S: Final = 10.0
Child = subprocess.Popen[bytes]


def first_failure(children: Sequence[Child], poll_s: float = 0.2) -> int | None:
    """Wait until a child exits with a failure (its exit code), or until every child has exited
    cleanly (None). A child stopped by a signal fails with the negative signal number."""
    while True:
        codes = [child.poll() for child in children]
        for code in codes:
            if code is not None and code != 0:
                return code
        if all(code == 0 for code in codes):
            return None
        time.sleep(poll_s)


def stop_all(children: Sequence[Child], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every child still running, then SIGKILL those not gone after ``grace_s``."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        if child.poll() is None:
            child.kill()
            child.wait()


def run_children(
    argv: Sequence[str],
    envs: Sequence[Mapping[str, str]],
    *,
    started: Callable[[], None] = lambda: None,
    cleanup: Callable[[], None] = lambda: None,
) -> int | None:
    """Run one child per environment, all running ``argv``, until one fails (its exit code),
    all exit cleanly, or SIGINT/SIGTERM comes (None); then stop them all. ``cleanup`` runs after,
    with both signals ignored: a second Ctrl-C (or a timeout's TERM) cannot cut the clean-up
    short and leave children behind."""
    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for env in envs:
            children.append(subprocess.Popen(list(argv), env=dict(env)))
        started()
        failed = first_failure(children)
    except KeyboardInterrupt:
        failed = None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop_all(children)
            cleanup()
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, interrupt)
    return failed
