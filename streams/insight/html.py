"""An insight report as one self-contained HTML file, and ``write``: that file with the report as
JSON and each figure as PNG beside it.

Self-contained means readable offline and forever: the CSS and the figures (SVG) are inline, no
font, script or picture is fetched, and a Content-Security-Policy forbids any script at all.
Audience names and category values come from users' data, so every one of them is escaped here;
the SVG comes from matplotlib, which escapes the text it draws. The DOM hooks (``section.section
[data-name]``, ``div.summary[data-audience]``, ``table.tests tr[data-section]``,
``figure[data-name] svg``) are what tests and any reader's tooling may rely on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import orjson

from streams.insight.figures import Figure, colour, figures, file_stem
from streams.insight.tables import TABLES, e, verdict
from streams.insight.text import NONE, describe_test, number, p_value

CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def write(report: Mapping[str, Any], out_path: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """``out.html``, ``out.json`` (same stem) and ``out.figures/NN-name.png``, each replaced in
    one rename (a reader never meets half a file; the HTML last, so it never names a figure that
    is not there yet). Draws everything before writing anything: no matplotlib, no file."""
    drawn = figures(report)
    page = render(report, drawn)
    out = Path(out_path)
    json_path, figures_dir = out.with_suffix(".json"), out.with_name(f"{out.stem}.figures")
    pngs = {f"{file_stem(i, f.name)}.png": f.png for i, f in enumerate(drawn, 1)}
    _replace_dir(figures_dir, pngs)
    _replace_file(json_path, orjson.dumps(report, option=orjson.OPT_INDENT_2))
    _replace_file(out, page.encode())
    return out, json_path, figures_dir


def render(report: Mapping[str, Any], drawn: Sequence[Figure]) -> str:
    """The page: audiences with their summaries, the table of tests, then every section."""
    names = [str(a["name"]) for a in report["audiences"]]
    by_name = {f.name: f for f in drawn}
    sections = report["sections"]
    title = "Insight: " + " vs ".join(names)
    body = [
        _header(report, names),
        "<main>",
        _audiences(report["audiences"]),
        _tests(sections),
        _contents(sections),
        *(_section(i, s, names, by_name.get(s["name"])) for i, s in enumerate(sections, 1)),
        _notes(report.get("notes") or []),
        "</main>",
        f"<footer>portrait insight · report version {e(report.get('version', 1))}</footer>",
    ]
    css = files("streams.insight").joinpath("report.css").read_text(encoding="utf-8")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{e(title)}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _header(report: Mapping[str, Any], names: Sequence[str]) -> str:
    meta = [f"{len(names)} audiences", f"as of {e(report.get('as_of', NONE))}"]
    if report.get("where") is not None:
        meta.append(f"where <code>{e(orjson.dumps(report['where']).decode())}</code>")
    meta.append(
        f"{number(report.get('tests', 0))} tests, {number(report.get('significant', 0))} "
        "significant (q &lt; 0.05 and not a negligible effect)"
    )
    return (
        f'<header class="top"><h1>Segment insight</h1><p class="meta">{" · ".join(meta)}</p>'
        "</header>"
    )


def _audiences(audiences: Sequence[Mapping[str, Any]]) -> str:
    cards = [
        f'<article class="audience" data-audience="{i}" style="--c:{colour(i)}">'
        f'<h2><span class="swatch"></span>{e(a["name"])}</h2>'
        f'<p class="users">{number(a["users"])} users</p>'
        f'<div class="summary" data-audience="{i}"><p>{e(a.get("summary") or "")}</p></div>'
        "</article>"
        for i, a in enumerate(audiences)
    ]
    return '<section class="audiences" aria-label="Audiences">' + "".join(cards) + "</section>"


def _tests(sections: Sequence[Mapping[str, Any]]) -> str:
    # what differs and how much first (a phone shows these without scrolling), then the test
    head = (
        "Section",
        "Effect size",
        "Magnitude",
        "Significant",
        "Test",
        "Statistic",
        "df",
        "p",
        "q",
    )
    rows = []
    for index, section in enumerate(sections, 1):
        for value, test in _section_tests(section):
            where = f' data-value="{e(value)}"' if value is not None else ""
            label = e(section["label"]) + (f": {e(value)}" if value is not None else "")
            sig = bool(test.get("significant"))
            cells = (
                f'<a href="#{_anchor(index, section)}">{label}</a>',
                f"{e(test['effect_name'])} {test['effect']:.2f}", e(test["magnitude"]),
                verdict(sig), e(test["name"]), number(test["statistic"]),
                e(number(test.get("df"))), e(p_value(test["p"])), e(p_value(test.get("q"))),
            )  # fmt: skip
            rows.append(
                f'<tr data-section="{e(section["name"])}"{where}'
                f' class="{"significant" if sig else "plain"}">'
                + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            )  # fmt: skip
    return (
        '<section class="differences"><h2>Differences and their tests</h2><div class="scroll">'
        '<table class="tests"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></section>"
    )  # fmt: skip


def _section_tests(section: Mapping[str, Any]) -> list[tuple[str | None, Mapping[str, Any]]]:
    """(value, test) of a section: one per value of a list section, else its one test."""
    if section.get("tests") is not None:
        values = section.get("values") or []
        return [(str(v), t) for v, t in zip(values, section["tests"], strict=False) if t]
    return [(None, section["test"])] if section.get("test") else []


def _anchor(index: int, section: Mapping[str, Any]) -> str:
    return f"s-{file_stem(index, str(section['name']))}"


def _contents(sections: Sequence[Mapping[str, Any]]) -> str:
    links = []
    for i, s in enumerate(sections, 1):
        sig = any(t.get("significant") for _, t in _section_tests(s))
        cls = ' class="sig"' if sig else ""
        links.append(f'<li><a href="#{_anchor(i, s)}"{cls}>{e(s["label"])}</a></li>')
    return '<nav class="toc" aria-label="Sections"><ol>' + "".join(links) + "</ol></nav>"


def _section(index: int, s: Mapping[str, Any], names: Sequence[str], fig: Figure | None) -> str:
    name = e(s["name"])
    tests = _section_tests(s)
    if s.get("tests") is not None:
        line = f"A test per value ({len(tests)} tested, in the table): * marks a significant one."
    elif s["kind"] == "hours":
        line = "The mean share of each hour of a user's week, in their own time zone (no test)."
    else:
        line = describe_test(s.get("test"), s.get("why_no_test"))
    sig = "true" if any(t.get("significant") for _, t in tests) else "false"
    figure = f'<figure data-name="{name}">{fig.svg}</figure>' if fig is not None else ""
    table = TABLES[s["kind"]](s, names)
    return (
        f'<section class="section" id="{_anchor(index, s)}" data-name="{name}" '
        f'data-kind="{e(s["kind"])}"><h2>{e(s["label"])}</h2>'
        f'<p class="test" data-significant="{sig}">{e(line)}</p>'
        f'<div class="body">{figure}<div class="scroll">{table}</div></div></section>'
    )


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{e(n)}</li>" for n in notes)
    return f'<section class="notes"><h2>Notes</h2><ul>{items}</ul></section>'


def _replace_file(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _replace_dir(path: Path, contents: Mapping[str, bytes]) -> None:
    """A new directory in place of the old one: built aside, then two renames."""
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old: Path | None = None
    try:
        for name, data in contents.items():
            (tmp / name).write_bytes(data)
        tmp.chmod(0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and not path.exists():
            os.replace(old, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
