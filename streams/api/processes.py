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

import logging
import os
import shutil
import sys
import tempfile
from typing import Final

from streams.api.listen import LOCALHOST, NO_TOKEN, bind
from streams.errors import CommandError
from streams.ops.children import run_children

log = logging.getLogger("portrait.api")
MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"


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

    def cleanup() -> None:
        sock.close()
        if not given:
            shutil.rmtree(directory, ignore_errors=True)

    def started() -> None:
        log.info("portrait api: %d processes on http://%s:%d", processes, host, port)

    failed = run_children(argv, [env] * processes, started=started, cleanup=cleanup)
    if failed is not None:
        raise CommandError(f"an API process exited with {failed}; its reason is above")
    return 0
