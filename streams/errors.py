"""The errors a person can meet, each worded in one line, and the exit codes they mean
(README, "Exit codes").

Every room raises these; the command line's boundary (:mod:`streams.app.errors`) turns them, and
the library errors it knows, into one line on stderr and an exit code. They live on the ground
floor so that no room has to import the command line to raise one.
"""

from __future__ import annotations

import logging
import re
from typing import Final, Protocol

from aiokafka.errors import KafkaConnectionError

from streams.settings.security import mask_url

EXIT_OK: Final = 0
EXIT_NOT_FOUND: Final = 1  # the command ran; what was asked for does not exist
EXIT_USAGE: Final = 2  # bad arguments, bad configuration, unreadable input, unreachable service
EXIT_BUG: Final = 3  # an unexpected exception: a bug, reported with its traceback
EXIT_INTERRUPTED: Final = 130  # Ctrl-C


class CommandError(Exception):
    """A reason for the user (one line) and the exit code it means."""

    code: int = EXIT_USAGE


class NotFound(CommandError):
    """What was asked for does not exist (a user without a profile, a log without buyers)."""

    code = EXIT_NOT_FOUND


class MetricsPortError(Exception):
    """The metrics port cannot be bound; :func:`explain` names the setting that chose it."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"cannot serve metrics on port {port}: {reason}")
        self.port = port
        self.reason = reason


def redis_unreachable(url: str, exc: BaseException) -> str:
    return f"cannot reach Redis at {mask_url(url)} (REDIS_URL): {_reason(exc)}"


def kafka_unreachable(servers: str, exc: BaseException) -> str:
    return f"cannot reach Kafka at {servers} (KAFKA_BOOTSTRAP_SERVERS): {_reason(exc)}"


def one_line(text: str) -> str:
    """Whitespace (line breaks of YAML errors, say) folded: one line, at most 500 characters."""
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


class _Client(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def started(client: _Client) -> None:
    """Start a Kafka client; one that cannot start is stopped (closed) before the error goes on:
    an unclosed client is a warning after the one-line error."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


# --- Kafka's bootstrap failures --------------------------------------------------------------
# aiokafka logs each unreachable bootstrap host at ERROR, then raises an error that names none
# of the reasons. The CLI reports the failure itself, in one line with the last reason kept here.
_last_bootstrap_failure: list[str] = []
_BOOTSTRAP: Final = re.compile(r'^Unable connect to "')


class BootstrapLogFilter(logging.Filter):
    """On the ``aiokafka`` logger (aiokafka.client's): its "Unable connect to" bootstrap records
    become INFO, their reason kept for the one-line error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and _BOOTSTRAP.match(record.msg) and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            _last_bootstrap_failure[:] = [str(args[-1])]
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaConnectionError) and _last_bootstrap_failure:
        return one_line(f"no broker answered ({_last_bootstrap_failure[0]})")
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return one_line(text)
