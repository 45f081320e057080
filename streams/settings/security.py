"""Credentials and TLS for Kafka and Redis (docs/operations.md, "Secured services").

The non-secret parts (protocol, mechanism, user name, certificate paths) come from the YAML file's
``kafka_security`` and ``redis_security`` sections; secrets only from the environment, as a value
or as a file (``KAFKA_SASL_PASSWORD[_FILE]``, ``KAFKA_SSL_KEY_PASSWORD[_FILE]``,
``REDIS_PASSWORD[_FILE]``) or in ``REDIS_URL`` itself. A password key in the YAML file is refused.
Secrets stay out of ``repr`` and every URL shown to a person goes through :func:`mask_url`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiokafka.helpers import create_ssl_context

from streams.settings.base import ConfigError, Section, build, section_of

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")  # docs/cluster.md
MASK = "***"


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism: str = "PLAIN"  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    sasl_username: str = ""
    ssl_cafile: str = ""  # empty: the system's CAs
    ssl_certfile: str = ""  # client certificate (PEM), for brokers that require one
    ssl_keyfile: str = ""
    ssl_check_hostname: bool = True
    sasl_password: str = field(default="", repr=False)  # environment only
    ssl_key_password: str = field(default="", repr=False)  # environment only

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


@dataclass(frozen=True, slots=True)
class RedisSecurity:
    username: str = ""  # ACL user, unless REDIS_URL names one
    ssl_ca_certs: str = ""  # rediss:// only; empty: the system's CAs
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    ssl_check_hostname: bool = True
    password: str = field(default="", repr=False)  # environment only, unless in REDIS_URL


# field -> the environment variable holding it (or NAME_FILE, a file holding it)
_KAFKA_SECRETS = {
    "sasl_password": "KAFKA_SASL_PASSWORD",
    "ssl_key_password": "KAFKA_SSL_KEY_PASSWORD",
}
_REDIS_SECRETS = {"password": "REDIS_PASSWORD"}

KafkaSecuritySection = section_of(KafkaSecurity, skip=frozenset(_KAFKA_SECRETS))
RedisSecuritySection = section_of(RedisSecurity, skip=frozenset(_REDIS_SECRETS))


def kafka_security(section: Section, env: Mapping[str, str]) -> KafkaSecurity:
    sec = build(
        KafkaSecurity,
        section,
        sasl_password=secret(env, _KAFKA_SECRETS["sasl_password"]),
        ssl_key_password=secret(env, _KAFKA_SECRETS["ssl_key_password"]),
    )
    sec = replace(sec, protocol=sec.protocol.upper(), sasl_mechanism=sec.sasl_mechanism.upper())
    _check_kafka(sec)
    return sec


def _check_kafka(sec: KafkaSecurity) -> None:
    _one_of("kafka_security.protocol", sec.protocol, KAFKA_PROTOCOLS)
    _one_of("kafka_security.sasl_mechanism", sec.sasl_mechanism, SASL_MECHANISMS)
    if sec.sasl and not sec.sasl_username:
        raise ConfigError(f"kafka_security.sasl_username is required with {sec.protocol}")
    if sec.sasl and not sec.sasl_password:
        raise ConfigError(f"set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE ({sec.protocol})")
    if not sec.sasl and (sec.sasl_username or sec.sasl_password):
        raise ConfigError(
            f"a SASL user or password is set but kafka_security.protocol is {sec.protocol}: "
            "use SASL_SSL or SASL_PLAINTEXT"
        )
    files = {"ssl_cafile": sec.ssl_cafile, "ssl_certfile": sec.ssl_certfile,
             "ssl_keyfile": sec.ssl_keyfile}  # fmt: skip
    _check_tls_files("kafka_security", files, sec.tls, f"protocol {sec.protocol}")
    if sec.ssl_key_password and not sec.ssl_keyfile:
        raise ConfigError("KAFKA_SSL_KEY_PASSWORD is set but kafka_security.ssl_keyfile is not")
    if sec.tls:
        kafka_tls_context(sec)  # a bad certificate or key password is a config error, now


def redis_security(section: Section, env: Mapping[str, str], url: str) -> RedisSecurity:
    sec = build(RedisSecurity, section, password=secret(env, "REDIS_PASSWORD"))
    parts = urlsplit(url)
    if sec.password and parts.password:
        raise ConfigError("REDIS_URL holds a password and REDIS_PASSWORD[_FILE] is set: use one")
    if sec.username and parts.username:
        raise ConfigError("REDIS_URL names a user and redis_security.username is set: use one")
    files = {"ssl_ca_certs": sec.ssl_ca_certs, "ssl_certfile": sec.ssl_certfile,
             "ssl_keyfile": sec.ssl_keyfile}  # fmt: skip
    tls = parts.scheme in ("rediss", "rediss+cluster")
    _check_tls_files("redis_security", files, tls, "a rediss:// REDIS_URL")
    return sec


def check_redis_url(url: str, source: str) -> str:
    """``url`` when its scheme is one redis-py serves; ``source`` names where it came from."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"{source} {mask_url(url)!r}: scheme must be redis://, rediss://, unix:// or, for a"
            " Redis Cluster, redis+cluster:// or rediss+cluster://"
        )
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number or out of range
    except ValueError:
        raise ConfigError(f"{source} {mask_url(url)!r}: the port is not a number") from None
    if source != "REDIS_URL" and _has_password(url):
        raise ConfigError(
            f"{source} in PORTRAIT_CONFIG holds a password: set REDIS_URL in the environment "
            "or the password in REDIS_PASSWORD_FILE"
        )
    return url


def mask_url(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` query) replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all (a bad port, say): show nothing of it after the @
        return url.rsplit("@", 1)[-1]
    netloc = parts.netloc
    if password is not None:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _has_password(url: str) -> bool:
    return mask_url(url) != url


def kafka_tls_context(sec: KafkaSecurity) -> ssl.SSLContext:
    """The client TLS context: the CA (or the system's), the client certificate if any."""
    try:  # a key password, even empty, so that OpenSSL never prompts on the terminal
        context: ssl.SSLContext = create_ssl_context(
            cafile=sec.ssl_cafile or None,
            certfile=sec.ssl_certfile or None,
            keyfile=sec.ssl_keyfile or None,
            password=sec.ssl_key_password,
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"kafka_security: cannot load the TLS certificates: {exc}") from exc
    context.check_hostname = sec.ssl_check_hostname
    return context


def secret(env: Mapping[str, str], name: str) -> str:
    """The value of ``name`` or the content of the file ``name_FILE`` names (one of them)."""
    value, path = env.get(name, ""), env.get(f"{name}_FILE", "")
    if value and path:
        raise ConfigError(f"both {name} and {name}_FILE are set: use one")
    if not path:
        return value
    try:
        text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read {name}_FILE {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}_FILE {path} is not UTF-8 text") from exc
    if not text:
        raise ConfigError(f"{name}_FILE {path} is empty")
    return text


def refuse_secrets(data: Mapping[str, object]) -> None:
    """A password key in the file is refused before decoding, with where to put it instead."""
    _no_secrets("kafka_security", data.get("kafka_security"), _KAFKA_SECRETS)
    _no_secrets("redis_security", data.get("redis_security"), _REDIS_SECRETS)


def _no_secrets(name: str, raw: object, secrets: Mapping[str, str]) -> None:
    if isinstance(raw, dict):
        for key in raw:
            if key in secrets or "password" in str(key) or "secret" in str(key):
                var = secrets.get(str(key), next(iter(secrets.values())))
                raise ConfigError(
                    f"{name}.{key}: secrets are not read from PORTRAIT_CONFIG; "
                    f"set {var} or {var}_FILE in the environment"
                )


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}: got {value!r}")


def _check_tls_files(name: str, files: Mapping[str, str], tls: bool, needs: str) -> None:
    for key, path in files.items():
        if not path:
            continue
        if not tls:
            raise ConfigError(f"{name}.{key} is set: it needs {needs}")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{name}.{key}: cannot read {path}")
    if files.get("ssl_keyfile") and not files.get("ssl_certfile"):
        raise ConfigError(f"{name}.ssl_keyfile is set without {name}.ssl_certfile")
