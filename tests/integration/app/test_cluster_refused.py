"""A Redis Cluster node as REDIS_URL: the worker and a direct replay refuse it at start, in one
line, instead of failing mid-run with CROSSSLOT or MOVED (cluster support: issue 15)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.settings.tree import Settings
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.cluster import ClusterNode
from tests.integration.helpers import T0, ev

pytestmark = pytest.mark.integration
_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|DEBUG|WARNING) ")


@pytest.fixture(scope="module")
def node() -> Iterator[ClusterNode]:
    server = ClusterNode()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "command", [["worker"], ["replay", "{tmp}/views.jsonl"], ["api", "--no-auth", "--port", "0"]]
)
def test_a_cluster_node_is_refused_in_one_line(
    settings: Settings, namespace: str, tmp_path: Path, node: ClusterNode, command: list[str]
) -> None:
    views = b"".join(orjson.dumps(ev("view", namespace + u, T0)) + b"\n" for u in "ab")
    (tmp_path / "views.jsonl").write_bytes(views)
    env = {**service_env(settings), "REDIS_URL": node.url, "PORTRAIT_METRICS_PORT": "0"}
    done = portrait(*[a.format(tmp=tmp_path) for a in command], env=env)
    assert done.returncode == 2, done.stderr
    shown = [line for line in done.stderr.splitlines() if line and not _LOG.match(line)]
    lines = [line for line in shown if not line.startswith("# metrics on ")]  # the banner
    assert len(lines) == 1, done.stderr
    assert "is a Redis Cluster node" in lines[0] and f":{node.port}" in lines[0]
    assert "Traceback" not in done.stderr
