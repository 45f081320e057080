"""Token specs (PORTRAIT_API_TOKENS, PORTRAIT_API_TOKENS_FILE) and the token table: scopes,
admin implying the others, 401 against 403, and errors that never show a secret."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streams.api.auth import LOCAL_ACTOR, TokenTable
from streams.api.errors import ApiError
from streams.settings.api import ApiConfig, parse_token_lines, parse_tokens
from streams.settings.base import ConfigError

SECRET = "s3cr3t-value"
HEX = hashlib.sha256(SECRET.encode()).hexdigest()


@pytest.mark.parametrize(
    ("spec", "scopes"),
    [
        ("", []),
        ("read:abc", ["read"]),
        ("read:abc,admin:xyz", ["read", "admin"]),
        (" read:abc , ingest:abc ", ["read", "ingest"]),
        ("read:a:b", ["read"]),  # the token is everything after the first colon
    ],
)
def test_a_spec_gives_one_entry_per_scope(spec: str, scopes: list[str]) -> None:
    assert [t.scope for t in parse_tokens(spec)] == scopes


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("abc", "entry 1: expected scope:token"),
        ("read:abc,", "entry 2: expected scope:token"),
        ("read:", "entry 1: expected scope:token"),
        (f"{SECRET}:read", "entry 1: unknown scope"),  # reversed: the token must not show
        (f"reed:{SECRET}", "entry 1: unknown scope"),
        (f"read:{SECRET} x", "entry 1: the token holds a space"),
    ],
)
def test_a_malformed_spec_names_the_entry_never_the_secret(spec: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tokens(spec)
    message = str(caught.value)
    assert message.startswith("PORTRAIT_API_TOKENS ") and expected in message
    assert SECRET not in message and "\n" not in message


def test_a_tokens_file_holds_digests_labels_and_comments() -> None:
    text = f"# ops\nadmin:{HEX}:alice\n\nread:{HEX.upper()}  # the dashboard\n"
    tokens = parse_token_lines(text, "tokens.txt")
    assert [(t.scope, t.actor) for t in tokens] == [
        ("admin", "alice"),
        ("read", f"token:{HEX[:8]}"),
    ]
    assert tokens[0].digest == hashlib.sha256(SECRET.encode()).digest()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("admin", "tokens.txt:1: expected scope:sha256hex[:label]"),
        (f"root:{HEX}", "tokens.txt:1: unknown scope"),
        ("read:abc", "tokens.txt:1: expected the token's SHA-256 as 64 hex digits"),
        (f"read:{HEX}:a b", "tokens.txt:1: a label is"),
        (f"read:{HEX}:x:y", "tokens.txt:1: expected scope:sha256hex[:label]"),
    ],
)
def test_a_malformed_file_line_is_named(line: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_token_lines(line, "tokens.txt")
    assert str(caught.value).startswith(expected)


def test_the_environment_sets_port_host_and_tokens(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"ingest:{HEX}:etl\n", encoding="utf-8")
    env = {"PORTRAIT_API_PORT": "9000", "PORTRAIT_API_HOST": "127.0.0.1",
           "PORTRAIT_API_TOKENS": "read:abc", "PORTRAIT_API_TOKENS_FILE": str(file)}  # fmt: skip
    config = ApiConfig.load({"port": 8081}, env)
    assert (config.host, config.port) == ("127.0.0.1", 9000)
    assert [(t.scope, t.actor) for t in config.tokens][1] == ("ingest", "etl")
    assert "abc" not in repr(config) and HEX not in repr(config)
    assert ApiConfig.load(None, {}).port == 8080


@pytest.mark.parametrize("port", ["http", "-1", "65536"])
def test_a_bad_port_is_one_line(port: str) -> None:
    with pytest.raises(ConfigError, match="PORTRAIT_API_PORT is not a port number"):
        ApiConfig.load(None, {"PORTRAIT_API_PORT": port})


def test_an_unreadable_tokens_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read PORTRAIT_API_TOKENS_FILE"):
        ApiConfig.load(None, {"PORTRAIT_API_TOKENS_FILE": str(tmp_path / "missing")})


TABLE = TokenTable(parse_tokens("read:r,ingest:i,admin:a,read:ri,ingest:ri"))


@pytest.mark.parametrize(
    ("token", "scope", "status"),
    [
        (None, "read", 401),
        ("", "read", 401),
        ("nope", "read", 401),
        ("r", "read", None),
        ("r", "ingest", 403),
        ("r", "admin", 403),
        ("i", "ingest", None),
        ("i", "read", 403),
        ("a", "read", None),
        ("a", "ingest", None),
        ("a", "admin", None),
        ("ri", "read", None),
        ("ri", "ingest", None),
        ("ri", "admin", 403),
    ],
)
def test_scopes(token: str | None, scope: str, status: int | None) -> None:
    if status is None:
        assert scope in TABLE.check(token, scope).scopes
    else:
        with pytest.raises(ApiError) as caught:
            TABLE.check(token, scope)
        assert caught.value.status == status
        assert caught.value.code == {401: "unauthorized", 403: "forbidden"}[status]


def test_the_actor_is_the_tokens_digest_prefix_or_its_label() -> None:
    principal = TABLE.check("a", "admin")
    assert principal.actor == "token:" + hashlib.sha256(b"a").hexdigest()[:8]
    labelled = TokenTable(parse_token_lines(f"read:{HEX}:bob", "f"))
    assert labelled.check(SECRET, "read").actor == "bob"


def test_without_auth_everyone_is_the_local_admin() -> None:
    principal = TokenTable(None).check(None, "admin")
    assert principal.actor == LOCAL_ACTOR and {"read", "ingest"} <= principal.scopes
