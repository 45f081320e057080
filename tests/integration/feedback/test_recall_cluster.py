"""Feedback, recall and the recall report on a real three-master Redis Cluster (docs/cluster.md).

The feedback store's scripts each name one user's keys and its shared-key writes follow them as
separate idempotent commands, so they run on a cluster as they are, once their pipelines load
missing scripts on every primary; the report's profile reads go per slot. The recall index and
ledger are sharded by user (16 keys each, streams/store/feedback.py), the report merging the
ledger's shards. The seeded scenario of test_recall_report.py runs here through the cluster
client and must give the oracle's figures, with the users and the ledger's shards spread over
every primary (test_recall_sharded.py compares each piece with a single Redis)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from streams.feedback.recall_report import read_recall_report
from streams.names import Keys, shards
from streams.settings.tree import Settings
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.cluster import SLOTS, ClusterNode
from tests.integration.feedback.test_recall_report import (
    PRICES,
    RECALL,
    SINCE,
    UNTIL,
    check,
    oracle,
    oracle_recalls,
    play,
    scenario,
)
from tests.integration.helpers import DAY, T0

pytestmark = pytest.mark.integration


async def test_the_recall_report_on_a_cluster_equals_the_oracle(
    cluster: RedisCluster, cluster_nodes: list[ClusterNode], settings: Settings, namespace: str
) -> None:
    users = scenario(3, namespace, n=160)
    await play(cluster, settings, users)  # type: ignore[arg-type]
    oracle_recalls(users)
    keys = Keys(settings.topics.prefix)
    thirds = {key_slot(keys.recall(u.uid).encode()) * 3 // SLOTS for u in users}
    assert thirds == {0, 1, 2}, "the users' keys live on every primary"
    held = [key for key in shards(keys.recall_ledger, True) if await cluster.zcard(key)]
    assert len(held) >= 12, f"the ledger's messages are in {len(held)} shards only"
    assert {key_slot(key.encode()) * 3 // SLOTS for key in held} == {0, 1, 2}, "on every primary"
    assert await cluster.exists(keys.recall_ledger, keys.recall_index) == 0, "none unsharded"
    as_of = T0 + 45 * DAY
    report = await read_recall_report(
        cluster,
        settings.topics.prefix,
        RECALL,
        PRICES,
        (SINCE, UNTIL),
        as_of,
        chunk=7,  # type: ignore[arg-type]
    )
    check(report, oracle(users, as_of))
    assert report["missing"] == 0 and report["overall"]["recalled"] >= 10


async def test_the_command_reads_a_cluster_url(
    cluster: RedisCluster, cluster_nodes: list[ClusterNode], settings: Settings, namespace: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    users = scenario(9, namespace, n=30)
    await play(cluster, settings, users)  # type: ignore[arg-type]
    oracle_recalls(users)
    config = tmp_path / "portrait.yaml"
    config.write_text(f"topics: {{prefix: '{settings.topics.prefix}'}}\n"
                      "triggers: {recall: {campaigns: ['winback-*']}}\n")  # fmt: skip
    url = f"redis+cluster://127.0.0.1:{cluster_nodes[1].port}/0"
    env = {**service_env(settings), "REDIS_URL": url, "PORTRAIT_CONFIG": str(config)}
    span = ["--since", str(SINCE), "--until", str(UNTIL), "--as-of", str(T0 + 45 * DAY)]
    done = portrait("recall", "report", *span, "--json", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    check(orjson.loads(done.stdout), oracle(users, T0 + 45 * DAY))
