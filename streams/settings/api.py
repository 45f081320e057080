"""The HTTP API's settings (docs/api.md): the ``api:`` YAML section (``host``, ``port``,
``tokens_file``, ``cors_origins``), overridden by ``PORTRAIT_API_HOST``, ``PORTRAIT_API_PORT``
(8080), ``PORTRAIT_API_TOKENS_FILE`` and ``PORTRAIT_API_CORS_ORIGINS`` (comma-separated); the
tokens themselves only from the environment.

``PORTRAIT_API_TOKENS="read:abc,admin:xyz"``: ``scope:token`` pairs, comma-separated (a token may
appear once per scope). ``PORTRAIT_API_TOKENS_FILE``: one ``scope:sha256hex[:label]`` a line (the
SHA-256 of the token, never the token; ``#`` starts a comment). Scopes: read, ingest, admin (admin
implies the others). A malformed entry is a :class:`ConfigError` naming its place, never its text:
it may hold a secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Final

import msgspec

from streams.settings.base import ConfigError, Section, build, decode, section_of

SCOPES: Final = ("read", "ingest", "admin")
DEFAULT_PORT: Final = 8080
DEFAULT_HOST: Final = "0.0.0.0"  # a service: reachable from the other containers
_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
# An origin as browsers send it: scheme, host, optional port; no path, no trailing slash.
_ORIGIN: Final = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)
_LABEL: Final = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One scope granted to one token, known by its SHA-256 only; ``actor``: who the audit
    names (the file's label, else ``token:`` and the first 8 hex digits of the digest)."""

    scope: str
    digest: bytes = field(repr=False)
    actor: str


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = DEFAULT_HOST
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = DEFAULT_PORT
    tokens_file: str = ""  # PORTRAIT_API_TOKENS_FILE wins
    # Web pages allowed to call the API from a browser (CORS), e.g. https://shop.example; "*":
    # any. None by default: no CORS headers, browsers on other origins are refused.
    cors_origins: tuple[str, ...] = ()  # PORTRAIT_API_CORS_ORIGINS wins
    tokens: tuple[ApiToken, ...] = field(default=(), repr=False)  # environment only

    @classmethod
    def load(cls, raw: object, env: Mapping[str, str]) -> ApiConfig:
        """The YAML section (decoded already, or a mapping), then the environment over it."""
        if not isinstance(raw, Section):
            raw = decode({} if raw is None else raw, ApiSection, "api")
        base = build(cls, raw)
        tokens_file = env.get("PORTRAIT_API_TOKENS_FILE") or base.tokens_file
        tokens = parse_tokens(env.get("PORTRAIT_API_TOKENS", ""))
        cors = env.get("PORTRAIT_API_CORS_ORIGINS")
        origins = base.cors_origins if cors is None else tuple(o.strip() for o in cors.split(","))
        if tokens_file:
            tokens += read_tokens_file(tokens_file)
        return dataclasses.replace(
            base,
            host=env.get("PORTRAIT_API_HOST") or base.host,
            port=_port(env.get("PORTRAIT_API_PORT"), base.port),
            tokens_file=tokens_file,
            tokens=_unique(tokens),
            cors_origins=check_origins(origins),
        )


ApiSection = section_of(ApiConfig, skip=frozenset({"tokens"}))


def check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """The allowed browser origins, each ``*`` or ``scheme://host[:port]``; empty entries go."""
    kept = tuple(dict.fromkeys(o for o in origins if o))
    for origin in kept:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ConfigError(
                f"api.cors_origins: {origin!r} is not an origin "
                "(scheme://host[:port], no path, or *)"
            )
    return kept


def random_admin_token() -> tuple[str, ApiToken]:
    """A fresh admin token (``portrait up`` prints it) and its table entry."""
    token = secrets.token_urlsafe(24)
    digest = token_digest(token)
    return token, ApiToken("admin", digest, default_actor(digest))


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def default_actor(digest: bytes) -> str:
    return f"token:{digest.hex()[:8]}"


def parse_tokens(spec: str, source: str = "PORTRAIT_API_TOKENS") -> tuple[ApiToken, ...]:
    """``scope:token,scope:token``; an empty spec holds no token."""
    out = []
    for number, entry in enumerate(spec.split(","), 1):
        entry = entry.strip()
        if not entry and not spec.strip():
            continue
        scope, colon, token = entry.partition(":")
        where = f"{source} entry {number}"
        if not colon or not token.strip():
            raise ConfigError(f"{where}: expected scope:token (scopes: {', '.join(SCOPES)})")
        _check_scope(scope, where)
        if token != token.strip() or any(c.isspace() for c in token):
            raise ConfigError(f"{where}: the token holds a space")
        digest = token_digest(token)
        out.append(ApiToken(scope, digest, default_actor(digest)))
    return tuple(out)


def parse_token_lines(text: str, source: str) -> tuple[ApiToken, ...]:
    """The lines of a tokens file: ``scope:sha256hex[:label]``, blank lines and ``#`` comments."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        parts = line.split(":")
        if len(parts) not in (2, 3):
            raise ConfigError(f"{where}: expected scope:sha256hex[:label]")
        scope, hexdigest = parts[0], parts[1].lower()
        _check_scope(scope, where)
        if not _HEX.match(hexdigest):
            raise ConfigError(f"{where}: expected the token's SHA-256 as 64 hex digits")
        label = parts[2] if len(parts) == 3 else ""
        if label and not _LABEL.match(label):
            raise ConfigError(f"{where}: a label is 1-64 of A-Z a-z 0-9 _ . @ -")
        digest = bytes.fromhex(hexdigest)
        out.append(ApiToken(scope, digest, label or default_actor(digest)))
    return tuple(out)


def read_tokens_file(path: str) -> tuple[ApiToken, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read PORTRAIT_API_TOKENS_FILE {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"PORTRAIT_API_TOKENS_FILE {path} is not UTF-8 text") from None
    return parse_token_lines(text, path)


def _check_scope(scope: str, where: str) -> None:
    if scope not in SCOPES:  # not echoed: a reversed entry (token:scope) puts the token here
        raise ConfigError(f"{where}: unknown scope (scopes: {', '.join(SCOPES)})")


def _unique(tokens: tuple[ApiToken, ...]) -> tuple[ApiToken, ...]:
    return tuple(dict.fromkeys(tokens))


def _port(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"PORTRAIT_API_PORT is not a port number: {raw!r}")
    return port
