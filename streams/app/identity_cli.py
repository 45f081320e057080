"""``portrait identity show ID``: a person's identifiers and merge history (docs/identity.md).

``ID`` is an identifier (``user_id:u-42``, ``anonymous_id:7c1e``, ``email:<sha256>``,
``device_id:d1``) or a profile key (``u-42``, ``anon:7c1e``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from profiles.identity import KINDS, Identifier, digest
from streams.connect.clients import redis_client
from streams.errors import NotFound
from streams.settings.tree import Settings
from streams.store.identity import IdentityStore
from streams.store.profiles import ProfileStore


def add_parser(sub: Any) -> None:
    identity = sub.add_parser("identity", help="who is who: a person's identifiers and merges")
    isub = identity.add_subparsers(dest="subcommand", required=True)
    show = isub.add_parser("show", help="print a person's identifiers and merge history (JSON)")
    show.add_argument("id", help="an identifier (KIND:VALUE) or a profile key (USER, anon:ID)")


def identifier(text: str) -> Identifier:
    """An identifier from the command line: ``KIND:VALUE`` (an email or phone in clear is
    hashed as the decoder hashes it), else a profile key."""
    kind, sep, value = text.partition(":")
    if sep and kind in KINDS:
        if kind in ("email", "phone"):
            value = digest(kind, value)
        return Identifier(kind, value)
    return Identifier.of_profile(text)


async def show(settings: Settings, text: str) -> dict[str, Any]:
    ident = identifier(text)
    redis = redis_client(settings, socket_connect_timeout=5)
    try:
        found = await IdentityStore(redis, settings.topics.prefix).show(ident)
        if found is not None:
            return found
        profile = ident.profile
        if profile is not None and await ProfileStore(redis, settings.topics.prefix).get(profile):
            return {  # a profile nothing was ever linked to: a person of one
                "canonical_id": profile,
                "identifiers": [{"identifier": ident.text, "kind": ident.kind, "profile": profile}],
                "merges": [],
            }
    finally:
        await redis.aclose()
    raise NotFound(f"no person or profile is known by {ident.text!r}")


def identity_main(settings: Settings, args: argparse.Namespace) -> int:
    doc = asyncio.run(show(settings, args.id))
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
