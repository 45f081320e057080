"""The insight demo of docs/insight.md, as a user runs it: replay a public log, then compare two
segments of it with ``portrait insight``. Run by ``make insight-demo`` (which also refreshes the
pictures under docs/img/insight/) and by tests/integration/insight/test_demo.py.

    python docs/examples/insight/demo.py OUT_DIR [--docs]

Uses ``REDIS_URL`` when set, else starts an embedded Redis for the run. Each log gets its own
namespace (``topics.prefix``) and its own rules file beside this one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DATA = REPO.parent / "shared" / "data"
DEMOS = {  # name: (log, replay options, audiences, as of, figures for the docs)
    "rees46": (
        DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv",
        [],
        ["smartphone_shoppers", "home_shoppers"],
        "2019-10-01T03:00:00Z",
        ["price_band", "avg_order_value", "top_brands"],
    ),
    "taobao": (
        DATA / "taobao_userbehavior_by_user" / "UserBehavior.csv",
        ["--sort"],
        ["buyers", "browsers"],
        "2017-12-04T00:00:00Z",
        ["shopping_type", "events_total", "active_hours"],
    ),
}


@contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    sys.path.insert(0, str(REPO))
    from streams.app.embedded import EmbeddedRedis

    server = EmbeddedRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def portrait(*args: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "streams.app.cli", *args]
    done = subprocess.run(cmd, env=env, cwd=REPO, text=True, capture_output=True)
    sys.stderr.write(done.stderr.splitlines()[-1] + "\n" if done.stderr else "")
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])}: exit {done.returncode}: {done.stderr.strip()}")


def run(name: str, out: Path, url: str, config_dir: Path) -> Path:
    log, options, audiences, as_of, _ = DEMOS[name]
    config = config_dir / f"{name}.yaml"
    config.write_text(f"topics:\n  prefix: 'insight-demo-{name}.'\n")
    env = {**os.environ, "REDIS_URL": url, "PORTRAIT_CONFIG": str(config),
           "PORTRAIT_RULES": str(HERE / f"{name}.yaml")}  # fmt: skip
    portrait("replay", str(log), *options, "--quiet", env=env)
    report = out / f"{name}.html"
    portrait("insight", *audiences, "--as-of", as_of, "--out", str(report), "--quiet", env=env)
    return report


def docs_pictures(name: str, report: Path) -> None:
    """The demo's chosen figures under docs/img/insight/ (what docs/insight.md shows)."""
    target = REPO / "docs" / "img" / "insight"
    target.mkdir(parents=True, exist_ok=True)
    figures = report.with_name(f"{report.stem}.figures")
    for section in DEMOS[name][4]:
        (png,) = figures.glob(f"*-{section}.png")
        shutil.copyfile(png, target / f"{name}-{section}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", action="store_true", help="refresh docs/img/insight/")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with redis_url() as url, tempfile.TemporaryDirectory() as tmp:
        for name in DEMOS:
            report = run(name, args.out, url, Path(tmp))
            print(f"{name}: {report}")
            if args.docs:
                docs_pictures(name, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
