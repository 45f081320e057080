"""The `portrait` command as a user runs it: profile get, and every command's errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.app.embedded import free_port
from streams.settings.tree import Settings
from tests.integration.helpers import (
    T0,
    ev,
    produce,
    running_worker,
    wait_for_count,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def portrait(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.app.cli", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def service_env(settings: Settings) -> dict[str, str]:
    """The services of ``settings`` and its ``topics.prefix`` (which names its Redis keys too)."""
    config = Path(tempfile.gettempdir()) / f"portrait-test-{settings.topics.prefix}.yaml"
    config.write_text(f"topics:\n  prefix: '{settings.topics.prefix}'\n")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDIS_URL": settings.redis_url,
        "PORTRAIT_CONFIG": str(config),
    }


async def test_profile_get_prints_the_profile_and_rejects_unknown_users(
    settings: Settings, namespace: str
) -> None:
    user = namespace + "dave"
    events = [
        ev("view", user, T0, item_id="i1"),
        ev("add_to_cart", user, T0 + 1000, item_id="i1", price=12.5, quantity=2),
        ev("add_to_cart", user, T0 + 2000, item_id="i2", price=3.0),
        ev("purchase", user, T0 + 3000, item_id="i2", price=3.0, order_id="o1"),
    ]
    async with running_worker(settings):
        await produce(settings, events)

        await wait_for_count(settings, user, "purchase", 1, what="dave's profile")
    done = portrait(
        "profile", "get", user, "--as-of", "2023-11-15T00:00:00Z", env=service_env(settings)
    )
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["user_id"] == user
    assert doc["tags"]["cart_open_items"] == 1
    assert doc["tags"]["spend_total"] == 3.0
    assert doc["tags"]["last_purchase_at"] == "2023-11-14T22:13:23.000Z"
    assert doc["tags"]["views_30d"] == 1
    assert [item["item_id"] for item in doc["cart"]] == ["i1"]

    later = portrait(
        "profile", "get", user, "--as-of", "2024-06-01T00:00:00Z", env=service_env(settings)
    )
    assert orjson.loads(later.stdout)["tags"]["views_30d"] == 0, "windows fall with time"

    unknown = portrait("profile", "get", namespace + "nobody", env=service_env(settings))
    assert unknown.returncode != 0
    assert "no profile" in unknown.stderr


# --- every command, on bad input: one line, the README's exit code, no traceback ----------------
# A case: the arguments (``{tmp}``: a directory with the files below), environment changes
# (``{kafka_down}``, ``{redis_down}``, ``{busy_port}``, ``{tmp}``), the exit code, and what the
# one line must name (the option, variable, port or host).
NOT_FOUND, USAGE = 1, 2
CASES: list[tuple[str, list[str], dict[str, str], int, list[str]]] = [
    # usage: numbers, times, choices, files
    # (every argument type: tests/unit/streams/app/test_cli_args.py)
    ("rate negative", ["simulate", "--rate", "-5"], {}, USAGE, ["--rate", "-5"]),
    ("rate not a number", ["simulate", "--rate", "abc"], {}, USAGE, ["--rate", "abc"]),
    ("users zero", ["simulate", "--users", "0"], {}, USAGE, ["--users"]),
    ("bad-rate above 1", ["simulate", "--bad-rate", "1.5"], {}, USAGE, ["--bad-rate"]),
    ("as-of words", ["profile", "get", "u1", "--as-of", "yesterday"], {}, USAGE, ["--as-of"]),
    ("replay missing file", ["replay", "{tmp}/missing.csv"], {}, USAGE, ["{tmp}/missing.csv"]),
    ("price-reference missing file", ["price-reference", "{tmp}/missing.csv"], {}, USAGE,
     ["{tmp}/missing.csv"]),
    ("rfm missing file", ["rfm-cutoffs", "{tmp}/missing.csv"], {}, USAGE, ["{tmp}/missing.csv"]),
    ("campaign missing file", ["campaign", "{tmp}/missing.json"], {}, USAGE,
     ["{tmp}/missing.json"]),
    ("campaign bad request", ["campaign", "{tmp}/views.jsonl"], {}, USAGE, ["campaign request"]),
    ("unknown command", ["bogus"], {}, USAGE, ["bogus"]),
    # configuration
    ("config missing", ["profile", "get", "u1"], {"PORTRAIT_CONFIG": "{tmp}/missing.yaml"}, USAGE,
     ["PORTRAIT_CONFIG", "{tmp}/missing.yaml"]),
    ("config not YAML", ["worker"], {"PORTRAIT_CONFIG": "{tmp}/broken.yaml"}, USAGE,
     ["PORTRAIT_CONFIG", "not valid YAML"]),
    ("config unknown key", ["simulate"], {"PORTRAIT_CONFIG": "{tmp}/unknown.yaml"}, USAGE,
     ["topcs: unknown key; did you mean topics?"]),
    ("metrics port not a number", ["simulate"], {"PORTRAIT_METRICS_PORT": "abc"}, USAGE,
     ["PORTRAIT_METRICS_PORT", "abc"]),
    ("redis url scheme", ["profile", "get", "u1"], {"REDIS_URL": "foo://x"}, USAGE,
     ["REDIS_URL", "foo://x"]),
    ("redis url port", ["profile", "get", "u1"], {"REDIS_URL": "redis://127.0.0.1:nope/0"},
     USAGE, ["REDIS_URL", "port is not a number"]),
    ("kafka port", ["simulate"], {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:nope"}, USAGE,
     ["KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:nope"]),
    ("config not text", ["worker"], {"PORTRAIT_CONFIG": "{tmp}/binary.yaml"}, USAGE,
     ["PORTRAIT_CONFIG", "not UTF-8"]),
    # services down, ports taken
    ("simulate, Kafka down", ["simulate", "--duration", "1"],
     {"KAFKA_BOOTSTRAP_SERVERS": "{kafka_down}"}, USAGE,
     ["KAFKA_BOOTSTRAP_SERVERS", "{kafka_down}"]),
    ("worker, Kafka down", ["worker"], {"KAFKA_BOOTSTRAP_SERVERS": "{kafka_down}"}, USAGE,
     ["cannot reach Kafka", "KAFKA_BOOTSTRAP_SERVERS", "{kafka_down}"]),
    ("worker, Redis down", ["worker"], {"REDIS_URL": "{redis_down}"}, USAGE,
     ["cannot reach Redis", "REDIS_URL", "{redis_down}"]),
    ("profile get, Redis down", ["profile", "get", "u1"], {"REDIS_URL": "{redis_down}"}, USAGE,
     ["REDIS_URL", "{redis_down}"]),
    ("campaign, Redis down", ["campaign", "{tmp}/campaign.json"], {"REDIS_URL": "{redis_down}"},
     USAGE, ["REDIS_URL", "{redis_down}"]),
    ("campaign send, Kafka down", ["campaign", "{tmp}/campaign.json", "--send"],
     {"KAFKA_BOOTSTRAP_SERVERS": "{kafka_down}"}, USAGE, ["KAFKA_BOOTSTRAP_SERVERS"]),
    ("replay via Kafka, Kafka down", ["replay", "{tmp}/views.jsonl", "--via", "kafka"],
     {"KAFKA_BOOTSTRAP_SERVERS": "{kafka_down}"}, USAGE, ["KAFKA_BOOTSTRAP_SERVERS"]),
    ("worker, metrics port taken", ["worker"], {"PORTRAIT_METRICS_PORT": "{busy_port}"}, USAGE,
     ["PORTRAIT_METRICS_PORT", "{busy_port}"]),
    ("simulate, metrics port taken", ["simulate"], {"PORTRAIT_METRICS_PORT": "{busy_port}"},
     USAGE, ["PORTRAIT_METRICS_PORT", "{busy_port}"]),
    ("replay, metrics port taken", ["replay", "{tmp}/views.jsonl"],
     {"PORTRAIT_METRICS_PORT": "{busy_port}"}, USAGE, ["PORTRAIT_METRICS_PORT", "{busy_port}"]),
    # not found
    ("unknown user", ["profile", "get", "{namespace}nobody"], {}, NOT_FOUND, ["no profile"]),
    ("a log without buyers", ["rfm-cutoffs", "{tmp}/views.jsonl"], {}, NOT_FOUND, ["no buyers"]),
]  # fmt: skip

# What else a failing command may write to stderr: its INFO log records, a progress line.
_INFO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|DEBUG) ")
_PROGRESS = re.compile(r"^(rfm-cutoffs|replay) \S+: ")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _files(tmp: Path, namespace: str) -> None:
    views = b"".join(orjson.dumps(ev("view", namespace + u, T0)) + b"\n" for u in "abc")
    (tmp / "views.jsonl").write_bytes(views)
    request = {"campaign_id": "c1", "message": {"title": "Hi"}, "audience": {"users": ["u1"]},
               "window": {"hours": 24}}  # fmt: skip
    (tmp / "campaign.json").write_bytes(orjson.dumps(request))
    (tmp / "broken.yaml").write_text("topics: [1,\n  partitions: {\n")
    (tmp / "unknown.yaml").write_text("topcs: {partitions: 2}\n")
    (tmp / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01 not text")


@pytest.mark.parametrize(
    "args,env,code,names", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_every_command_fails_in_one_line_with_its_exit_code(
    settings: Settings,
    namespace: str,
    tmp_path: Path,
    busy_port: int,
    args: list[str],
    env: dict[str, str],
    code: int,
    names: list[str],
) -> None:
    _files(tmp_path, namespace)
    values = {"tmp": str(tmp_path), "namespace": namespace, "busy_port": str(busy_port),
              "kafka_down": f"127.0.0.1:{free_port()}",
              "redis_down": f"redis://127.0.0.1:{free_port()}/0"}  # fmt: skip
    serves = {"PORTRAIT_METRICS_PORT": "0"} if args[:1] in (["worker"], ["simulate"]) else {}
    changes = {**serves, **{k: v.format(**values) for k, v in env.items()}}
    done = portrait(*[a.format(**values) for a in args], env={**service_env(settings), **changes})

    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr
    assert (done.returncode, done.stdout) == (code, ""), done.stderr
    lines = done.stderr.splitlines()
    problem = [line for line in lines if not _INFO.match(line) and not _PROGRESS.match(line)]
    assert len(problem) == 1 and problem[0].startswith("portrait"), done.stderr
    for name in names:
        assert name.format(**values) in problem[0], (name, problem[0])
