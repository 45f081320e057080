"""The command line's boundary: the one place that turns a failure a person can meet into one
line on stderr and an exit code (README, "Exit codes").

Commands raise; :func:`explain` (called by ``streams.app.cli.main``) words the exception, naming
the setting (variable, port, host) behind it. Anything it does not know is a bug: the CLI then
prints the traceback and exits :data:`~streams.errors.EXIT_BUG`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from streams.app.embedded import EmbeddedError
from streams.connect.lifecycle import StartupError
from streams.errors import (
    EXIT_USAGE,
    CommandError,
    MetricsPortError,
    kafka_unreachable,
    one_line,
    redis_unreachable,
)
from streams.settings.base import ConfigError
from triggers.campaign import CampaignError


def explain(
    exc: BaseException,
    *,
    kafka: str,
    redis_url: str,
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, int] | None:
    """One line and an exit code for ``exc``, or None when it is not one a person causes."""
    if isinstance(exc, CommandError):
        return one_line(str(exc)), exc.code
    if isinstance(exc, ConfigError):
        return one_line(f"configuration error: {exc}"), EXIT_USAGE
    if isinstance(exc, StartupError | EmbeddedError):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, CampaignError):
        return one_line(f"campaign request: {exc}"), EXIT_USAGE
    if isinstance(exc, MetricsPortError):
        source = _port_source(env if env is not None else os.environ, config_path)
        return f"cannot serve metrics on port {exc.port} ({source}): {exc.reason}", EXIT_USAGE
    if isinstance(exc, RedisError):
        return redis_unreachable(redis_url, exc), EXIT_USAGE
    if isinstance(exc, KafkaError):
        return kafka_unreachable(kafka, exc), EXIT_USAGE
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return one_line(f"{where}{exc.strerror}"), EXIT_USAGE
    return None


def _port_source(env: Mapping[str, str], config_path: str | None) -> str:
    if "PORTRAIT_METRICS_PORT" in env:
        return "PORTRAIT_METRICS_PORT"
    if config_path:
        return f"metrics_port in {config_path}, or PORTRAIT_METRICS_PORT"
    return "the default; set PORTRAIT_METRICS_PORT"
