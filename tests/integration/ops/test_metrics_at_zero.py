"""A fresh deployment's panels show 0, not "No data": every series a Grafana panel or an alert
reads (its metric name and label matchers, parsed from deploy/) is on the worker's very first
``/metrics`` answer, before any event, at 0.

The one exception is the per-partition lag: its ``partition`` label is open-ended until the group
assigns partitions, so it must exist once they are assigned (still before any event), at 0.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.settings.tree import Settings
from tests.integration.ops.prometheus import alert_rules, dashboard_queries, http_get
from tests.integration.processes import WorkerProcess

pytestmark = pytest.mark.integration

# Series whose labels only exist once partitions are assigned (see the module docstring).
AFTER_ASSIGNMENT = frozenset({"portrait_consumer_lag"})
# Prometheus's own series, not the worker's.
PROMETHEUS_MADE = frozenset({"up"})

_SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\{([^}]*)\}|\b(portrait_[a-z0-9_]+)\b")
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ALTERNATIVES = re.compile(r"\w+(\|\w+)+")


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(
            _holds(labels.get(label, ""), op, value) for label, op, value in self.matchers
        )

    def __str__(self) -> str:
        inner = ", ".join(f'{label}{op}"{value}"' for label, op, value in self.matchers)
        return f"{self.name}{{{inner}}}" if inner else self.name


def _holds(actual: str, op: str, value: str) -> bool:
    if op in ("=", "!="):
        return (actual == value) == (op == "=")
    return bool(re.fullmatch(value, actual)) == (op == "=~")


def selectors(expr: str) -> set[Selector]:
    """The series selectors of a PromQL expression. A regex matcher that is a plain alternation
    (``a|b|c``) stands for each of its values: every one must exist."""
    found: set[Selector] = set()
    for braced, inner, bare in _SELECTOR.findall(expr):
        name = braced or bare
        if braced and not (name.startswith("portrait_") or name in PROMETHEUS_MADE):
            continue
        matchers = [m.groups() for m in _MATCHER.finditer(inner)]
        assert "".join(m.group(0) for m in _MATCHER.finditer(inner)) == inner, inner
        variants: list[list[tuple[str, str, str]]] = [[]]
        for label, op, value in matchers:
            values = value.split("|") if op == "=~" and _ALTERNATIVES.fullmatch(value) else None
            if values is None:
                variants = [[*v, (label, op, value)] for v in variants]
            else:
                variants = [[*v, (label, "=", one)] for v in variants for one in values]
        found.update(Selector(name, tuple(v)) for v in variants)
    return found


# the experiment panels read the arms of the configured experiments (each at 0 from the start)
EXPERIMENT = {"name": "cart_copy", "kinds": ["cart_reminder"], "holdout": 0.2,
              "variants": [{"name": "plain", "weight": 1}]}  # fmt: skip


def read_selectors() -> dict[Selector, list[str]]:
    """Every selector of the dashboard and the alerts, with who reads it."""
    readers: dict[Selector, list[str]] = {}
    sources = [(f"panel {t!r}", e) for t, e in dashboard_queries()]
    sources += [(f"alert {n}", e) for n, e in alert_rules()]
    for who, expr in sources:
        for selector in selectors(expr):
            readers.setdefault(selector, []).append(who)
    return readers


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    status, body = http_get(url)
    assert status == 200, body[:300]
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    ]


def first_scrape(url: str, worker: WorkerProcess, within: float = 60.0) -> str:
    """The body of the first ``/metrics`` answer, polled for as soon as the process starts."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert worker.proc is not None and worker.proc.poll() is None, worker.log.read_text()
        try:
            status, body = http_get(url, timeout=1.0)
        except OSError:
            time.sleep(0.02)
            continue
        if status == 200:
            return body.decode()
    raise AssertionError(f"no /metrics answer within {within}s")


def missing(
    readers: dict[Selector, list[str]], samples: list[tuple[str, dict[str, str], float]]
) -> list[str]:
    return [
        f"{selector}  (read by {', '.join(who)})"
        for selector, who in sorted(readers.items(), key=lambda kv: str(kv[0]))
        if not any(selector.matches(name, labels) for name, labels, _ in samples)
    ]


def test_the_selector_parser_reads_names_matchers_and_alternations() -> None:
    expr = (
        'max by (segment) (portrait_segment_users{segment=~"a|b", value="true"}) '
        '/ sum(rate(portrait_x_total[5m])) and up{job="w"} == 0 or vector(0)'
    )
    assert {str(s) for s in selectors(expr)} == {
        'portrait_segment_users{segment="a", value="true"}',
        'portrait_segment_users{segment="b", value="true"}',
        "portrait_x_total",
        'up{job="w"}',
    }
    assert selectors('portrait_y{reason=~"a.*"}') == {
        Selector("portrait_y", (("reason", "=~", "a.*"),))
    }


def test_every_series_a_panel_or_alert_reads_exists_at_zero_on_the_first_scrape(
    settings: Settings, tmp_path: Path
) -> None:
    readers = read_selectors()
    assert len(readers) > 40  # the parse found the dashboard's and the alerts' selectors
    worker = WorkerProcess(settings, tmp_path, {"triggers": {"experiments": [EXPERIMENT]}})
    url = f"http://127.0.0.1:{worker.port}/metrics"
    worker.start()
    try:
        first = [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(first_scrape(url, worker))
            for s in family.samples
        ]
        now = {s: w for s, w in readers.items() if s.name not in AFTER_ASSIGNMENT | PROMETHEUS_MADE}
        assert missing(now, first) == [], "no series on the first scrape:\n" + "\n".join(
            missing(now, first)
        )
        values = {
            n: v for n, _, v in first if n.startswith("portrait_events") and n.endswith("_total")
        }
        assert values and set(values.values()) == {0.0}, "no event yet: the counts are 0"

        later = {s: w for s, w in readers.items() if s.name in AFTER_ASSIGNMENT}
        deadline = time.monotonic() + 60
        while missing(later, samples := scrape(url)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert missing(later, samples) == [], "after assignment:\n" + "\n".join(
            missing(later, samples)
        )
        lags = [v for name, _, v in samples if name == "portrait_consumer_lag"]
        assert lags and set(lags) == {0.0}, lags
    finally:
        worker.stop()
