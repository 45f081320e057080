"""Experiments on cart reminders end to end: real broker and Redis, the event worker, the
scheduler, the feedback service and a simulated provider whose users answer with known
probabilities (tests/integration/experiments/harness.py, streams/sim/responder.py).

Every count of the report must equal the oracle read from the published messages and the
events produced, and the intervals must hold the true uplift the probabilities imply: in one
detailed run, and in at least 90 % of the intervals of several seeded runs (the full coverage
study, hundreds of runs, is ``make bench-experiments``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.connect.clients import redis_client
from streams.errors import EXIT_NOT_FOUND
from streams.names import Keys
from streams.settings.tree import Settings
from streams.store.experiments import ExperimentStore
from tests.integration.app.test_cli import portrait, service_env
from tests.integration.experiments.harness import DAY, NOON, Design, Lab, Run
from tests.integration.helpers import metric
from tests.integration.privacy.test_erase import privacy
from triggers.experiment_report import text

pytestmark = pytest.mark.integration
RUNS, SMALL = 12, 150


async def test_an_experiment_measures_each_arm_against_its_holdout(
    settings: Settings, namespace: str
) -> None:
    lab, design = Lab(settings, namespace), Design()
    async with lab.running(design, seed=3):
        run = await lab.run(design, seed=3)
    print(text(run.report))
    arms = run.arms()
    for arm, expected in run.oracle.items():
        assert {k: arms[arm][k] for k in expected} == expected, arm
    assert set(arms) == {"holdout", "plain", "urgent"}
    assert arms["holdout"]["sent"] == 0 and arms["holdout"]["users"] > 0
    urgent = [m for m in run.messages if m["variant"] == "urgent"]
    assert {m["channel"] for m in urgent} == {"sms"}  # the arm's channel alone
    assert all(m["payload"]["copy"] == "urgent" for m in urgent)
    assert all(m["experiment"] == run.name for m in run.messages)
    assert run.covered() == {"plain": True, "urgent": True}, (run.report["arms"], run.truth)
    assert run.report["decision"]["verdict"] == "keep_running"  # far below the horizon
    held = metric(lab.registry, "portrait_experiment_events_total", experiment=run.name,
                  arm="holdout", event="held_out")  # fmt: skip
    assert held == run.oracle["holdout"]["users"]
    _command_line(lab.settings, design, run)
    await _erase_one(lab.settings, run)


def _command_line(settings: Settings, design: Design, run: Run) -> None:
    """``portrait experiment list`` and ``report`` print what the report holds."""
    env = service_env(settings)
    config = Path(env["PORTRAIT_CONFIG"])
    raw = {"topics": {"prefix": settings.topics.prefix},
           "triggers": {"experiments": [design.experiment(run.name)]}}  # fmt: skip
    config.write_text(json.dumps(raw))  # JSON is YAML
    as_of = run.report["as_of"]
    done = portrait("experiment", "report", run.name, "--as-of", as_of, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == run.report
    table = portrait("experiment", "report", run.name, "--as-of", as_of, "--quiet", env=env)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[2:5]}
    for arm, row in run.oracle.items():
        assert rows[arm][1] == f"{row['users']:,}", rows
    assert "decision (keep_running)" in table.stdout
    listed = portrait("experiment", "list", env=env)
    line = f"{run.name}: cart_reminder; converted within 1 days; holdout 30 %, plain 35 %, "
    assert listed.stdout.startswith(line + "urgent 35 %"), listed.stdout
    user = run.messages[0]["user_id"]
    profile = portrait("profile", "get", user, env=env)
    assert profile.returncode == 0, profile.stderr
    arm = json.loads(profile.stdout)["experiments"][run.name]
    assert arm["arm"] == run.messages[0]["variant"] and arm["exposed_at"].endswith("Z")
    missing = portrait("experiment", "report", "nope", env=env)
    assert missing.returncode == EXIT_NOT_FOUND
    assert missing.stderr.strip().count("\n") == 0 and "no experiment 'nope'" in missing.stderr


async def test_intervals_hold_the_true_uplift_over_seeded_runs(
    settings: Settings, namespace: str
) -> None:
    lab, design = Lab(settings, namespace), Design(users=SMALL)
    runs: list[Run] = []
    async with lab.running(design, seed=101):
        for seed in range(101, 101 + RUNS):
            runs.append(await lab.run(design, seed=seed))
    for run in runs:  # exact in every run
        arms = run.arms()
        for arm, expected in run.oracle.items():
            assert {k: arms[arm][k] for k in expected} == expected, (run.name, arm)
    covered = [ok for run in runs for ok in run.covered().values()]
    assert sum(covered) >= 0.9 * len(covered), [r.covered() for r in runs]


async def _erase_one(settings: Settings, run: Run) -> None:
    """An erased user leaves the experiment: the export showed the arm, then no key holds it."""
    message = run.messages[0]
    user, keys = message["user_id"], Keys(settings.topics.prefix)
    async with privacy(settings) as service:
        export = await service.export(user, NOON + 3 * DAY)
        await service.erase(user, suppress=False, actor="test")
    assert export is not None
    assert export["experiments"][run.name].startswith(message["variant"] + "|")
    assert export["experiments"][f"{run.name}|sent:{message['channel']}"] == "1"
    async with redis_client(settings) as redis:
        assert await redis.zscore(keys.experiment_ledger(run.name), user) is None
        assert not await redis.exists(keys.experiment(user))
        store = ExperimentStore(redis, settings.topics.prefix)
        assert await store.size(run.name) == sum(r["users"] for r in run.report["arms"]) - 1
