"""A real headless browser for page tests: Debian's chromium, one fresh profile per run.

``dump_dom`` returns the DOM after the page's scripts ran (``--virtual-time-budget`` lets timers
and deferred scripts finish), ``screenshot`` writes a PNG at a given window size. Chromium is
kept off the network beyond the page's own origin: no background networking, component updates,
sync or QUIC; a new empty ``--user-data-dir`` each time. ``.ci/install-chromium`` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
TIMEOUT_S: Final = 60.0


def chromium() -> str | None:
    """The chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str]) -> tuple[str, str]:
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed (bash .ci/install-chromium)")
    with tempfile.TemporaryDirectory(prefix="portrait-chromium-") as profile:
        done = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout, done.stderr


def console_lines(stderr: str) -> list[str]:
    """The page's console messages (errors, CSP refusals) from chromium's stderr log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def dump_dom(url: str, *, width: int = 1280, height: int = 2400, budget_ms: int = 5000) -> str:
    """The serialised DOM of ``url`` once its scripts ran."""
    return dump_dom_and_console(url, width=width, height=height, budget_ms=budget_ms)[0]


def dump_dom_and_console(
    url: str, *, width: int = 1280, height: int = 2400, budget_ms: int = 5000
) -> tuple[str, list[str]]:
    """The DOM of ``url`` once its scripts ran, and the page's console messages."""
    out, err = _run(
        [
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ]
    )
    return out, console_lines(err)


def screenshot(
    url: str, path: Path, *, width: int = 1280, height: int = 2400, budget_ms: int = 5000
) -> Path:
    """A PNG of ``url`` at ``width`` x ``height`` CSS pixels, written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={path}",
            url,
        ]
    )
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot at {path}")
    return path
