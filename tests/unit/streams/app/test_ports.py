"""Free ports are picked below the kernel's ephemeral range, where no outgoing connection can
take one before its server binds it (streams/app/ports.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.app import ports
from streams.app.ports import bindable, free_port, free_ports


@pytest.fixture
def ephemeral(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /proc/sys/net/ipv4/ip_local_port_range."""
    path = tmp_path / "ip_local_port_range"
    monkeypatch.setattr(ports, "_RANGE", path)
    return path


@pytest.mark.parametrize(
    ("text", "floor"),
    [
        ("32768\t60999\n", 32768),
        ("49152 65535", 49152),
        ("", 0),
        ("garbled", 0),
        (None, 0),  # no such file: not Linux
    ],
)
def test_the_ephemeral_floor_is_read_or_unknown(
    ephemeral: Path, text: str | None, floor: int
) -> None:
    if text is not None:
        ephemeral.write_text(text)
    assert ports._ephemeral_floor() == floor


def test_a_port_is_picked_below_the_ephemeral_range(ephemeral: Path) -> None:
    ephemeral.write_text("32768 60999")
    picked = {free_port() for _ in range(50)}
    assert all(ports._LOWEST <= port < 32768 for port in picked)
    assert len(picked) > 40  # drawn at random, not one port over and over


@pytest.mark.parametrize("text", ["10500 60999", None])
def test_with_no_room_below_the_range_or_no_range_the_kernel_picks(
    ephemeral: Path, text: str | None
) -> None:
    if text is not None:
        ephemeral.write_text(text)
    port = free_port()
    assert port >= 1024 and bindable(port)


def test_a_held_port_is_not_bindable_and_a_picked_one_is() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        assert not bindable(holder.getsockname()[1])
    assert bindable(free_port())


def test_consecutive_ports_are_all_free() -> None:
    base = free_ports(4)
    assert all(bindable(base + i) for i in range(4))
