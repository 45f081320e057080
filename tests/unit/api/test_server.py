"""``serve_api``'s refusals, each one line before anything is served."""

from __future__ import annotations

import socket

import pytest

from streams.api.listen import NO_TOKEN, bind
from streams.api.server import serve_api
from streams.errors import CommandError
from streams.settings.api import random_admin_token, token_digest
from streams.settings.tree import Settings


async def test_no_token_and_no_no_auth_refuses_to_start() -> None:
    with pytest.raises(CommandError) as caught:
        await serve_api(Settings(), host="127.0.0.1", port=0, tokens=())
    assert str(caught.value) == NO_TOKEN


def test_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError) as caught:
            bind("127.0.0.1", port)
    message = str(caught.value)
    assert message.startswith(f"cannot serve the API on 127.0.0.1:{port} ") and "\n" not in message


def test_a_random_admin_token_is_known_by_its_digest() -> None:
    token, entry = random_admin_token()
    assert entry.scope == "admin" and entry.digest == token_digest(token) and len(token) >= 32
    assert token not in repr(entry)
