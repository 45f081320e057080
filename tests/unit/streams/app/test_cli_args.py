"""``portrait``'s parser: every number, time and choice it refuses is one line and exit 2 (no
I/O: a refused argument stops before any setting is read or service reached). The same errors
from the real command, with services: tests/integration/app/test_cli.py."""

from __future__ import annotations

import pytest

from streams.app.cli import main

REFUSED = [
    (["simulate", "--rate", "0"], "--rate", "'0' must be more than 0"),
    (["simulate", "--rate", "1e12"], "--rate", "at most 1,000,000"),
    (["simulate", "--rate=-inf"], "--rate", "not a finite number"),
    (["simulate", "--users", "1.5"], "--users", "'1.5' is not a whole number"),
    (["simulate", "--users", "-3"], "--users", "must be at least 1"),
    (["simulate", "--duration", "-1"], "--duration", "must be at least 0"),
    (["simulate", "--time-scale", "inf"], "--time-scale", "not a finite number"),
    (["simulate", "--bad-rate", "-0.1"], "--bad-rate", "at least 0 and at most 1"),
    (["simulate", "--seed", "x"], "--seed", "invalid int value"),
    (["up", "--for", "0"], "--for", "must be more than 0"),
    (["up", "--rate", "nan"], "--rate", "not a finite number"),
    (["up", "--users", "0"], "--users", "must be at least 1"),
    (["simulate", "--users", "10000000000"], "--users", "at most 1,000,000"),
    (["up", "--bad-rate", "2"], "--bad-rate", "at most 1"),
    (["worker", "--show-changes", "-1"], "--show-changes", "must be at least 0"),
    (["profile", "get", "u1", "--as-of", "2020-13-01T00:00:00Z"], "--as-of", "2020-13-01"),
    (["profile", "get"], "user_id", "required"),
    (["profile"], "profile_command", "required"),
    (["rfm-cutoffs", "x", "--as-of", "-5"], "--as-of", "-5"),
    (["rfm-cutoffs", "x", "--format", "xml"], "--format", "invalid choice: 'xml'"),
    (["replay", "x", "--via", "carrier-pigeon"], "--via", "invalid choice"),
    (["replay", "x", "--format", "csv"], "--format", "invalid choice"),
    (["price-reference"], "path", "required"),
    (["campaign", "x", "--now", "soon"], "--now", "soon"),
    (["bogus"], "command", "invalid choice: 'bogus'"),
    ([], "command", "required"),
]


@pytest.mark.parametrize("argv,option,reason", REFUSED, ids=[" ".join(a) for a, _, _ in REFUSED])
def test_a_refused_argument_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], option: str, reason: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("portrait") and option in err and reason in err, err
    assert err.rstrip().endswith("--help)")  # the usage is one --help away


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--help"]) == 0
    assert "--rate" in capsys.readouterr().out


@pytest.mark.parametrize(
    "raised,code,shown",
    [
        (RuntimeError("boom"), 3, "internal error (a bug; please report it)"),
        (KeyboardInterrupt(), 130, ""),
    ],
)
def test_a_bug_keeps_its_traceback_and_ctrl_c_is_130(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    shown: str,
) -> None:
    def dispatch(*_: object) -> int:
        raise raised

    monkeypatch.setattr("streams.app.cli._dispatch", dispatch)
    monkeypatch.delenv("PORTRAIT_CONFIG", raising=False)
    assert main(["price-reference", "x"]) == code
    err = capsys.readouterr().err
    assert shown in err and ("Traceback" in err) == (code == 3), err
