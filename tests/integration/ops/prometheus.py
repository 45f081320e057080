"""A real Prometheus for the tests: Debian's package, installed by .ci/install-prometheus when
missing, run as a child process on a free port with a temporary data directory."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
INSTALL = ROOT / ".ci" / "install-prometheus"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "portrait.json"


def require_tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``, installing the package when missing (CI
    runs .ci/install-prometheus first; this covers a bare ``pytest``)."""
    found = shutil.which(name)
    if found is None:
        done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False)
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed and could not be: {done.stderr.strip()[-300:]}")
    return found


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class Prometheus:
    def __init__(self, port: int, workdir: Path, scrape: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in scrape.items()
            ],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.data = workdir / "tsdb"
        self.log_path = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        command = [require_tool("prometheus"), f"--config.file={self.config_path}",
                   f"--storage.tsdb.path={self.data}", "--log.level=warn",
                   f"--web.listen-address=127.0.0.1:{self.port}"]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            if http_get(f"{self.url}/-/ready")[0] == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready after {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}", timeout=10)
        data = orjson.loads(body) if body else {}
        if status != 200 or data.get("status") != "success":
            raise AssertionError(f"{path} {params}: HTTP {status}: {body[:500]!r}")
        return data["data"]

    def query(self, expr: str) -> list[Any]:
        """The instant vector (or scalar) ``expr`` evaluates to now; [] is "No data"."""
        result = self.api("query", query=expr)
        if result["resultType"] in ("scalar", "string"):
            return [result["result"]]
        return list(result["result"])


_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(?!\s*bool\b)")


def as_probe(expr: str) -> str:
    """An alert expression with its comparisons made ``bool``: it then returns a sample (0 or 1)
    wherever its series exist, so "no data" means a missing series, not a quiet alert.
    Label matchers (inside braces) and strings are left alone."""
    out, depth, quote = [], 0, ""
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            out.append(ch)
            if ch == "\\":
                out.append(expr[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
            out.append(ch)
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            out.append(ch)
        elif depth == 0 and (m := _COMPARISON.match(expr, i)):
            out.append(f"{m.group(1)} bool")
            i = m.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def metric_names(expr: str) -> set[str]:
    """Series names an expression reads (the portrait_* ones, and ``up``)."""
    names = set(re.findall(r"\bportrait_[a-z0-9_]+\b", expr))
    if re.search(r"\bup\{", expr):
        names.add("up")
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, expr)`` of every dashboard target, Grafana's interval variables filled
    in as Grafana would for a short range."""
    panels = orjson.loads(DASHBOARD.read_bytes())["panels"]
    return [
        (p["title"], t["expr"].replace("$__rate_interval", "1m").replace("$__interval", "15s"))
        for p in panels
        if p["type"] != "row"
        for t in p["targets"]
    ]


def alert_rules() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"] if "alert" in r]
