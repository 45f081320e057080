"""The keyword arguments of every Kafka and Redis client Portrait makes, from :class:`Settings`.

Every construction site goes through here, so a secured deployment (SASL, TLS, Redis ACL user and
password, ``rediss://``) reaches the worker's consumer and producer, the DLQ, the trigger, feedback
and campaign services, the recall refresher, replays, the simulator and the topic admin alike:

    AIOKafkaConsumer(**kafka_options(settings), group_id=...)
    redis_client(settings, socket_timeout=30)

A bare bootstrap string is accepted where the caller has no :class:`Settings` (the embedded
services of ``portrait up`` and the tests): a plaintext client.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from aiokafka.conn import ScramAuthenticator
from aiokafka.errors import AuthenticationFailedError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from streams.connect import cluster_asking  # noqa: F401  (ASK redirects on one connection)
from streams.settings.security import kafka_tls_context
from streams.settings.tree import Settings

# Settings, or a bootstrap list (a Redis URL) alone for a plaintext broker (a Redis whose URL
# says all): the embedded services, the benchmarks and the tests.
KafkaTarget: TypeAlias = "Settings | str"
RedisTarget: TypeAlias = "Settings | str"


def kafka_options(kafka: KafkaTarget) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments of an aiokafka client."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    sec = kafka.kafka_security
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.kafka_bootstrap_servers,
        "security_protocol": sec.protocol,
    }
    if sec.tls:
        options["ssl_context"] = kafka_tls_context(sec)
    if sec.sasl:
        options["sasl_mechanism"] = sec.sasl_mechanism
        # aiokafka's names, used by SCRAM as well as PLAIN
        options["sasl_plain_username"] = sec.sasl_username
        options["sasl_plain_password"] = sec.sasl_password
    return options


def redis_options(settings: Settings) -> dict[str, Any]:
    """The arguments ``Redis.from_url(settings.redis_url, ...)`` needs beyond the URL: the ACL
    user and password when the URL does not carry them, the TLS files for ``rediss://``."""
    sec = settings.redis_security
    options: dict[str, Any] = {}
    if sec.username:
        options["username"] = sec.username
    if sec.password:
        options["password"] = sec.password
    if settings.redis_url.startswith(("rediss://", "rediss+cluster://")):
        options["ssl_cert_reqs"] = "required"
        options["ssl_check_hostname"] = sec.ssl_check_hostname
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if value := getattr(sec, name):
                options[name] = value
    return options


def redis_client(
    redis: RedisTarget,
    *,
    kind: type[Redis] = Redis,
    cluster_kind: type[RedisCluster] = RedisCluster,
    **kwargs: Any,
) -> Redis:
    """An asyncio Redis client (of class ``kind``) for ``redis``; ``kwargs``: timeouts etc. A
    ``redis+cluster://`` URL gives a ``RedisCluster``, which serves the commands the stores
    send one slot at a time (docs/cluster.md: which stores are ready for it)."""
    url, options = (
        (redis, {}) if isinstance(redis, str) else (redis.redis_url, redis_options(redis))
    )
    scheme, sep, rest = url.partition("://")
    if scheme.endswith("+cluster"):
        plain = f"{scheme.removesuffix('+cluster')}{sep}{rest}"
        return cast(Redis, cluster_kind.from_url(plain, **options, **kwargs))
    return kind.from_url(url, **options, **kwargs)


def _refused_scram_is_a_kafka_error(
    method: Callable[[Any, str], None],
) -> Callable[[Any, str], None]:
    """aiokafka's SCRAM client reads the server's messages for their success fields only: a
    broker that refuses the login the RFC 5802 way (``e=<reason>``, as Tansu does) makes it raise
    ``KeyError('v')``, a bad nonce or signature a ``ValueError``, and either escapes the
    client's start as a traceback. Here they are the :class:`AuthenticationFailedError` (a
    ``KafkaError``) they mean, so they end in the one-line "cannot reach Kafka" error."""

    @functools.wraps(method)
    def checked(self: Any, message: str) -> None:
        fields = dict(pair.split("=", 1) for pair in message.split(",") if "=" in pair)
        if "e" in fields:
            raise AuthenticationFailedError(f"the broker refused the SASL login: {fields['e']}")
        try:
            method(self, message)
        except (KeyError, ValueError) as exc:
            raise AuthenticationFailedError(
                f"bad SASL SCRAM answer from the broker: {exc!r}"
            ) from exc

    return checked


for _name in ("process_server_first_message", "process_server_final_message"):
    setattr(
        ScramAuthenticator,
        _name,
        _refused_scram_is_a_kafka_error(getattr(ScramAuthenticator, _name)),
    )
