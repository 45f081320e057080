"""``portrait api --processes N``: N server processes answering on one port.

One process tops out near a thousand profile reads a second (docs/api.md, "Why FastAPI"): the
profile view and the framework are CPU-bound Python. This supervisor binds the port first (a
taken port is still one line, port 0 still works) with SO_REUSEPORT, then starts N
``portrait api`` children that each listen on their own SO_REUSEPORT socket of that port: the
kernel spreads connections evenly over them (one shared listening socket would let the first
process to wake accept a whole burst of keep-alive connections). It stops them all on SIGINT or
SIGTERM, or when one of them fails. Their metrics are summed across processes through
prometheus_client's multiprocess mode: the children share a ``PROMETHEUS_MULTIPROC_DIR`` (this
one's own temporary directory unless the environment names one) and each child's ``/metrics``
reads every child's figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Final

from streams.api.listen import LOCALHOST, NO_TOKEN, bind
from streams.errors import CommandError

log = logging.getLogger("portrait.api")
MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
STOP_GRACE_S: Final = 10.0


def serve_processes(
    host: str, port: int, processes: int, *, has_tokens: bool, no_auth: bool
) -> int:
    """Serve with ``processes`` children until interrupted; the exit code."""
    if not has_tokens and not no_auth:
        raise CommandError(NO_TOKEN)
    if no_auth:
        host = LOCALHOST
    sock = bind(host, port, shared=True, listen=False)  # holds the port; never accepts
    port = sock.getsockname()[1]
    given = os.environ.get(MULTIPROC_DIR)
    directory = given or tempfile.mkdtemp(prefix="portrait-api-metrics-")
    argv = [sys.executable, "-m", "streams.app.cli", "api", "--host", host, "--port", str(port),
            "--shared-port", *(["--no-auth"] if no_auth else [])]  # fmt: skip
    env = {**os.environ, MULTIPROC_DIR: directory}
    children: list[subprocess.Popen[bytes]] = []
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for _ in range(processes):
            children.append(subprocess.Popen(argv, env=env))
        log.info("portrait api: %d processes on http://%s:%d", processes, host, port)
        failed = _supervise(children)
    except KeyboardInterrupt:
        failed = None
    finally:  # a second signal (Ctrl-C twice, timeout's TERM) must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _stop(children)
            sock.close()
            if not given:
                shutil.rmtree(directory, ignore_errors=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, interrupt)
    if failed is not None:
        raise CommandError(f"an API process exited with {failed}; its reason is above")
    return 0


def _supervise(children: list[subprocess.Popen[bytes]]) -> int | None:
    """Wait until a child exits: its exit code if it failed, else None."""
    while True:
        for child in children:
            code = child.poll()
            if code is not None:
                return code if code != 0 else None
        time.sleep(0.2)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        if child.poll() is None:
            child.kill()
            child.wait()
