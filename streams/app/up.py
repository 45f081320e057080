"""``portrait up``: embedded broker and Redis, topics, a worker, the HTTP API and optionally the
simulator.

Each part runs as its own process, as in production; this one supervises them, prints the
``export`` lines that point every other command at the embedded services, the API's address and
a fresh admin token for it, and stops everything on Ctrl-C (or after ``--for`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streams.app.embedded import Services, embedded_services
from streams.app.ports import bindable, free_port
from streams.connect.topics import WORKER_TOPICS, ensure_topics
from streams.errors import CommandError
from streams.settings.api import random_admin_token
from streams.settings.tree import Settings

log = logging.getLogger("portrait.up")


def up_main(settings: Settings, args: argparse.Namespace) -> int:
    state_dir = Path(".portrait")
    state_dir.mkdir(exist_ok=True)
    with embedded_services(log_dir=state_dir) as services:
        names = [settings.topic(name) for name in WORKER_TOPICS]
        asyncio.run(
            ensure_topics(
                services.kafka_bootstrap_servers, names, partitions=settings.topics.partitions
            )
        )
        print("# embedded services are up; point other commands at them with:", flush=True)
        for name, value in services.env().items():
            print(f"export {name}={value}", flush=True)
        config = _demo_config(state_dir)
        children = [_spawn("worker", ["worker", "--show-changes", "3"], services, config)]
        children.append(_spawn_api(settings, services, config, args.api_port))
        if args.simulate:
            sim_args = [
                "simulate",
                "--users",
                str(args.users),
                "--rate",
                str(args.rate),
                "--bad-rate",
                str(args.bad_rate),
                "--respond",
            ]
            children.append(_spawn("simulator", sim_args, services, config))
        try:
            failed = _supervise(children, args.run_for)
        finally:
            for child in children:
                _terminate(child)
    if failed is not None:  # its own one-line reason is above
        name = ("worker", "api", "simulator")[children.index(failed)]
        raise CommandError(f"the {name} exited with {failed.returncode}; its reason is above")
    return 0


# Without a PORTRAIT_CONFIG of the user's, the demo's triggers fire fast enough to watch: a cart
# left 20 s gets its reminder (logged by the worker), at any hour of the day; and the reminders
# are an experiment (docs/experiments.md) that the simulated provider answers (`--simulate`).
DEMO_TRIGGERS = """\
triggers:
  cart_reminder: {delay: 20s}
  policy: {quiet_hours: null, min_gap: 5m}
  experiments:
    - name: cart_copy
      kinds: [cart_reminder]
      holdout: 0.2
      window_days: 0
      variants:
        - {name: plain, weight: 1}
        - {name: urgent, weight: 1, copy: urgent, channel: sms}
"""


def _demo_config(state_dir: Path) -> Path | None:
    if os.environ.get("PORTRAIT_CONFIG"):
        return None  # the user's own file, passed through the environment
    path = state_dir / "demo.yaml"
    path.write_text(DEMO_TRIGGERS, encoding="utf-8")
    return path


def _spawn(
    name: str,
    argv: list[str],
    services: Services,
    config: Path | None = None,
    extra: dict[str, str] | None = None,
    own_metrics: bool = True,
) -> subprocess.Popen[bytes]:
    """A child on a fresh metrics port, announced unless ``own_metrics`` is False (the API
    serves /metrics on its own port, printed with its URL)."""
    port = free_port()
    if own_metrics:
        print(f"# {name}: metrics on http://127.0.0.1:{port}/metrics", flush=True)
    env = {**services.child_env(metrics_port=port, config=config), **(extra or {})}
    return subprocess.Popen([sys.executable, "-m", "streams.app.cli", *argv], env=env)


def _spawn_api(
    settings: Settings, services: Services, config: Path | None, port: int | None
) -> subprocess.Popen[bytes]:
    """``portrait api`` on 127.0.0.1 with a fresh admin token (printed) beside the configured
    ones; on ``--api-port`` (0: any free port), else the configured port, else any free one if
    that is taken."""
    if port is None:
        port = settings.api.port if bindable(settings.api.port) else free_port()
    port = port or free_port()  # 0: any free port, known before the API binds it
    token, _ = random_admin_token()
    tokens = ",".join(filter(None, [os.environ.get("PORTRAIT_API_TOKENS", ""), f"admin:{token}"]))
    url = f"http://127.0.0.1:{port}"
    print(f"# api: {url}/docs (OpenAPI), the 360° page at {url}/ui/, metrics at {url}/metrics",
          flush=True)  # fmt: skip
    print(f"export PORTRAIT_API_URL={url} PORTRAIT_API_TOKEN={token}", flush=True)
    argv = ["api", "--host", "127.0.0.1", "--port", str(port)]
    return _spawn("api", argv, services, config, {"PORTRAIT_API_TOKENS": tokens}, own_metrics=False)


def _supervise(
    children: list[subprocess.Popen[bytes]], run_for: float | None
) -> subprocess.Popen[bytes] | None:
    """Wait for Ctrl-C, ``run_for`` seconds or a child's exit; the child that failed, if any."""
    deadline = None if run_for is None else time.monotonic() + run_for
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while deadline is None or time.monotonic() < deadline:
            for child in children:
                if child.poll() is not None:
                    log.info("%s exited with %s; stopping", child.args, child.returncode)
                    return child if child.returncode != 0 else None
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("# stopping", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return None


def _terminate(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
