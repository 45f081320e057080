"""The client option builders (streams/connect/clients.py): what every aiokafka and redis-py
client of a
secured deployment is given, and the URL masking of everything shown to a person."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import ScramAuthenticator
from aiokafka.errors import AuthenticationFailedError, KafkaError
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from streams.connect.clients import kafka_options, redis_client, redis_options
from streams.settings.security import KafkaSecurity, RedisSecurity, mask_url
from streams.settings.tree import ConfigError, Settings
from tests.certs import KEY_PASSWORD, Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def kafka(**security: Any) -> Settings:
    return Settings(
        kafka_bootstrap_servers="k1:9093,k2:9093", kafka_security=KafkaSecurity(**security)
    )


SASL = {"sasl_username": "portrait", "sasl_password": "pw-1"}


@pytest.mark.parametrize(
    "security,expected",
    [
        ({}, {"security_protocol": "PLAINTEXT"}),
        (
            {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", **SASL},
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
             "sasl_plain_username": "portrait", "sasl_plain_password": "pw-1"},
        ),
        (
            {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256", **SASL},
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
             "sasl_plain_username": "portrait", "sasl_plain_password": "pw-1"},
        ),
        (
            {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", **SASL},
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
             "sasl_plain_username": "portrait", "sasl_plain_password": "pw-1"},
        ),
    ],
)  # fmt: skip
def test_kafka_options_without_tls(security: dict[str, Any], expected: dict[str, Any]) -> None:
    assert kafka_options(kafka(**security)) == {"bootstrap_servers": "k1:9093,k2:9093", **expected}


def test_a_bare_bootstrap_list_is_a_plaintext_client() -> None:
    assert kafka_options("127.0.0.1:9092") == {"bootstrap_servers": "127.0.0.1:9092"}


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
@pytest.mark.parametrize("check_hostname", [True, False])
def test_kafka_tls_context(certs: Certs, protocol: str, check_hostname: bool) -> None:
    sasl = SASL if protocol == "SASL_SSL" else {}
    options = kafka_options(
        kafka(protocol=protocol, ssl_cafile=str(certs.ca), ssl_check_hostname=check_hostname,
              **sasl)
    )  # fmt: skip
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "portrait-test-ca"),),)
    ]
    assert options["security_protocol"] == protocol
    assert ("sasl_mechanism" in options) is (protocol == "SASL_SSL")


def test_kafka_tls_without_a_ca_file_trusts_the_system_cas() -> None:
    context = kafka_options(kafka(protocol="SSL"))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    "key,password,loads",
    [("client_key", "", True), ("client_key_encrypted", KEY_PASSWORD, True),
     ("client_key_encrypted", "wrong", False), ("client_key_encrypted", "", False)],
)  # fmt: skip
def test_client_certificate_and_key_password(
    certs: Certs, key: str, password: str, loads: bool
) -> None:
    settings = kafka(protocol="SSL", ssl_cafile=str(certs.ca), ssl_certfile=str(certs.client_cert),
                     ssl_keyfile=str(getattr(certs, key)), ssl_key_password=password)  # fmt: skip
    if loads:
        assert isinstance(kafka_options(settings)["ssl_context"], ssl.SSLContext)
    else:  # never an OpenSSL prompt on the terminal, never a traceback
        with pytest.raises(ConfigError, match="cannot load the TLS certificates"):
            kafka_options(settings)


async def test_every_aiokafka_client_takes_the_options(certs: Certs) -> None:
    """The options are arguments aiokafka knows, and they reach its connection settings."""
    settings = kafka(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", ssl_cafile=str(certs.ca),
                     **SASL)  # fmt: skip
    clients = [
        AIOKafkaProducer(**kafka_options(settings), acks="all").client,
        AIOKafkaConsumer(**kafka_options(settings), group_id="g")._client,
        AIOKafkaAdminClient(**kafka_options(settings))._client,
    ]
    for client in clients:
        assert client._bootstrap_servers == "k1:9093,k2:9093"
        assert (client._security_protocol, client._sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        assert (client._sasl_plain_username, client._sasl_plain_password) == ("portrait", "pw-1")
        assert isinstance(client._ssl_context, ssl.SSLContext)


def redis(url: str = "redis://r:6379/0", **security: Any) -> Settings:
    return Settings(redis_url=url, redis_security=RedisSecurity(**security))


@pytest.mark.parametrize(
    "settings,expected",
    [
        (redis(), {}),
        (redis("redis://portrait:pw@r:6379/0"), {}),  # the URL says it all
        (redis(username="portrait", password="pw"), {"username": "portrait", "password": "pw"}),
        (redis(password="pw"), {"password": "pw"}),  # requirepass: the default user
        (
            redis("rediss://r:6380/0", ssl_ca_certs="/ca.pem"),
            {"ssl_cert_reqs": "required", "ssl_check_hostname": True, "ssl_ca_certs": "/ca.pem"},
        ),
        (
            redis("rediss://r:6380/0", ssl_certfile="/c.pem", ssl_keyfile="/k.pem",
                  ssl_check_hostname=False),
            {"ssl_cert_reqs": "required", "ssl_check_hostname": False, "ssl_certfile": "/c.pem",
             "ssl_keyfile": "/k.pem"},
        ),
    ],
)  # fmt: skip
def test_redis_options(settings: Settings, expected: dict[str, Any]) -> None:
    assert redis_options(settings) == expected


@pytest.mark.parametrize(
    "settings,host,port,extra",
    [
        (redis("redis+cluster://c1:7000/0"), "c1", 7000, {}),
        (redis("redis+cluster://c2:7001", password="p5"), "c2", 7001, {"password": "p5"}),
        (redis("rediss+cluster://c3:7002", ssl_ca_certs="/ca.pem"), "c3", 7002,
         {"ssl_ca_certs": "/ca.pem", "ssl_cert_reqs": "required"}),
    ],
)  # fmt: skip
async def test_a_cluster_url_gives_a_cluster_client(
    settings: Settings, host: str, port: int, extra: dict[str, Any]
) -> None:
    client = redis_client(settings, socket_timeout=30)
    try:
        assert isinstance(client, RedisCluster)
        [seed] = client.startup_nodes  # not connected yet: the URL's node is the seed
        assert (seed.host, seed.port) == (host, port)
        kwargs = seed.connection_kwargs
        assert {k: kwargs.get(k) for k in extra} == extra
        assert kwargs["socket_timeout"] == 30
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "settings,connection,expected",
    [
        (redis("redis://u1:p1@r:6379/3"), Connection,
         {"username": "u1", "password": "p1", "host": "r", "port": 6379, "db": 3}),
        (redis(username="u2", password="p2"), Connection, {"username": "u2", "password": "p2"}),
        (redis("rediss://r:6380/0", password="p3", ssl_ca_certs="/ca.pem"), SSLConnection,
         {"password": "p3", "ssl_ca_certs": "/ca.pem", "ssl_cert_reqs": "required"}),
        (redis("unix:///run/redis.sock?db=2", password="p4"), UnixDomainSocketConnection,
         {"path": "/run/redis.sock", "password": "p4"}),
    ],
)  # fmt: skip
async def test_redis_client_connects_with_the_options(
    settings: Settings, connection: type, expected: dict[str, Any]
) -> None:
    client = redis_client(settings, socket_timeout=30)
    try:
        pool = client.connection_pool
        assert pool.connection_class is connection
        kwargs = pool.connection_kwargs
        assert {k: kwargs.get(k) for k in expected} == expected
        assert kwargs["socket_timeout"] == 30
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "url,shown",
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://user:s3cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:s3cret@host:6379", "redis://:***@host:6379"),
        ("rediss://user:p%40ss@host:6380/1", "rediss://user:***@host:6380/1"),
        ("redis://user:a@b@host/0", "redis://user:***@host/0"),  # an @ in the password
        ("unix://:s3cret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://host/0?password=s3cret&db=2", "redis://host/0?password=***&db=2"),
        ("redis://user@host/0", "redis://user@host/0"),  # a user alone is no secret
        ("redis://user:s3cret@host:notaport/0", "redis://user:***@host:notaport/0"),
        ("redis://user:s3cret@[::1/0", "[::1/0"),  # unparsable: nothing before the @ shown
        ("k1:9092,k2:9092", "k1:9092,k2:9092"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cret" not in mask_url(url)


def test_secrets_stay_out_of_repr() -> None:
    settings = dataclasses.replace(
        kafka(protocol="SASL_SSL", **SASL), redis_security=RedisSecurity(password="pw-redis")
    )
    shown = repr(settings)
    assert "pw-1" not in shown and "pw-redis" not in shown
    assert "sasl_username='portrait'" in shown  # the user name is no secret


def test_tls_files_of_the_fixture_exist(certs: Certs) -> None:
    assert all(Path(p).is_file() for p in dataclasses.astuple(certs))


def scram_exchange(server_final: Callable[[str], str]) -> None:
    """A SCRAM-SHA-256 login of aiokafka's client against a server side written from RFC 5802;
    ``server_final`` makes the server's last message from the signature it proves."""
    client = ScramAuthenticator(
        loop=None, sasl_plain_username="u", sasl_plain_password="pw", sasl_mechanism="SCRAM-SHA-256"
    )
    client_first_bare = client.first_message().removeprefix("n,,")
    salt, iterations = b"salt-1234", 4096
    server_first = f"r={client._nonce}server,s={base64.b64encode(salt).decode()},i={iterations}"
    client.process_server_first_message(server_first)
    final_without_proof = client.final_message().rsplit(",p=", 1)[0]
    salted = hashlib.pbkdf2_hmac("sha256", b"pw", salt, iterations)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    auth_message = f"{client_first_bare},{server_first},{final_without_proof}".encode()
    signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    client.process_server_final_message(server_final(base64.b64encode(signature).decode()))


def test_a_correct_scram_login_still_passes() -> None:
    scram_exchange(lambda signature: f"v={signature}")


@pytest.mark.parametrize(
    "server_final,reason",
    [
        (lambda _: "e=invalid-proof", "the broker refused the SASL login: invalid-proof"),
        (lambda _: "e=unknown-user", "refused the SASL login: unknown-user"),
        (lambda _: f"v={base64.b64encode(b'forged').decode()}", "Server sent wrong signature"),
        (lambda _: "x=1", "bad SASL SCRAM answer"),
    ],
)
def test_a_refused_scram_login_is_a_kafka_error(
    server_final: Callable[[str], str], reason: str
) -> None:
    """aiokafka alone raises KeyError('v') or ValueError here: a traceback, not a one-liner."""
    with pytest.raises(AuthenticationFailedError, match=reason) as caught:
        scram_exchange(server_final)
    assert isinstance(caught.value, KafkaError)


def test_a_bad_server_nonce_is_a_kafka_error() -> None:
    client = ScramAuthenticator(
        loop=None, sasl_plain_username="u", sasl_plain_password="pw", sasl_mechanism="SCRAM-SHA-512"
    )
    client.first_message()
    with pytest.raises(AuthenticationFailedError, match="nonce"):
        client.process_server_first_message("r=not-ours,s=c2FsdA==,i=4096")
