"""One matplotlib figure per section of an insight report, as inline SVG and as PNG.

Drawn from the report document alone (``profiles.insight.report.compare``), so the same figures
come out of a report read back from its JSON. Each audience keeps one colour in every figure and
in the HTML around them (the Okabe-Ito palette: told apart by colour-blind readers too).
matplotlib is imported on the first figure, with the Agg backend and a fixed style; the SVG text
is deterministic (fixed hash salt, no date) so that a report drawn twice is the same file.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from streams.insight import missing_matplotlib
from streams.insight.text import describe_test, number

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Canvas

PALETTE: Final = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
)  # fmt: skip
STYLE: Final[dict[str, Any]] = {
    "svg.hashsalt": "portrait-insight",
    "svg.fonttype": "path",  # glyphs as paths: the same picture whatever fonts a reader has
    "font.family": "DejaVu Sans",
    "font.size": 11.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10.0,
    "axes.titlelocation": "left",
    "axes.titlecolor": "#555555",
    "legend.frameon": False,
}
WIDTH_IN: Final = 5.2  # 374 pt: 11 pt text stays ~11 px on a 390 px phone
LABEL_CHARS: Final = 22
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PNG_DPI: Final = 150
Draw = Callable[["Canvas", Mapping[str, Any], Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class Figure:
    """One section's picture: ``svg`` ready to inline (ids scoped to it), ``png`` bytes."""

    name: str
    title: str
    svg: str
    png: bytes


def colour(index: int) -> str:
    """The colour of the ``index``-th audience, in every figure and in the HTML."""
    return PALETTE[index % len(PALETTE)]


def file_stem(number_: int, name: str) -> str:
    """``NN-name``: the figure's PNG file (without ``.png``) and, prefixed, its SVG id."""
    return f"{number_:02d}-{slug(name)}"


def figures(report: Mapping[str, Any]) -> list[Figure]:
    """One figure per section, in the report's order. The SVG goes inside the page, under the
    section's own heading and test line; the PNG stands alone, so it gets them drawn in."""
    matplotlib = _matplotlib()
    names = [str(a["name"]) for a in report["audiences"]]
    out = []
    for index, section in enumerate(report["sections"], 1):
        name, title = str(section["name"]), str(section["label"])
        with matplotlib.rc_context(STYLE), warnings.catch_warnings():
            # a value in a script DejaVu Sans lacks (CJK) draws as boxes: no warning per glyph
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            canvas = _canvas()
            DRAWERS[section["kind"]](canvas, section, names)
            svg = _save(canvas, "svg", metadata={"Date": None})
            _heading(canvas, section)
            png = _save(canvas, "png", dpi=PNG_DPI)
        fid = f"fig-{file_stem(index, name)}"
        out.append(Figure(name, title, inline_svg(svg.decode(), fid, title), png))
    return out


def slug(name: str) -> str:
    """A section name fit for a file name and an HTML id (names come from the rules' tags)."""
    return re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-") or "section"


def inline_svg(text: str, fid: str, title: str) -> str:
    """matplotlib's SVG made fit to sit inside HTML beside others: no XML prologue, doctype or
    metadata; every id prefixed with ``fid`` (glyph and clip ids repeat across figures, and in
    one document the first one would win); sized by CSS from its viewBox; labelled."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(
        r'(\bid="|href="#|url\(#)([^")]+)',
        lambda m: m[1] + (f"{fid}-{m[2]}" if m[2] in ids else m[2]),
        text,
    )
    head, rest = text.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    label = html.escape(title, quote=True)
    return f'{head} id="{fid}" role="img" aria-label="{label}">{rest}'


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise missing_matplotlib() from None
    matplotlib.use("Agg")
    return matplotlib


def _canvas() -> Canvas:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Canvas

    canvas = Canvas(figsize=(WIDTH_IN, 3.0), layout="constrained")
    FigureCanvasAgg(canvas)
    return canvas


def _save(canvas: Canvas, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    canvas.savefig(buffer, format=fmt, **options)
    return buffer.getvalue()


def _text(value: object, limit: int = LABEL_CHARS) -> str:
    """A user's value as matplotlib shows it literally: one printable line cut to ``limit``;
    ``$`` escaped (a pair would start mathtext: a value is not a formula); a leading ``_``
    kept off (matplotlib leaves such labels out of legends)."""
    text = "".join(c for c in " ".join(str(value).split()) if c.isprintable())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return (" " + text if text.startswith("_") else text).replace("$", r"\$")


def _heading(canvas: Canvas, section: Mapping[str, Any]) -> None:
    """The section's label and test line, drawn above the chart (for the standalone PNG)."""
    canvas.set_figheight(canvas.get_figheight() + 0.7)
    canvas.suptitle(_text(section["label"], 60), x=0.01, ha="left", fontweight="bold", fontsize=13)
    if section["kind"] == "list":
        canvas.axes[0].set_title("a test per value: * marks a significant difference")
    elif section["kind"] != "hours":
        test = describe_test(section.get("test"), section.get("why_no_test"))
        canvas.axes[0].set_title("\n".join(textwrap.wrap(_text(test, 200), 64)), fontsize=9)


def _bars(canvas: Canvas, section: Mapping[str, Any], names: Sequence[str]) -> None:
    """Grouped horizontal bars: each value's share of each audience's users, top to bottom."""
    from matplotlib.ticker import PercentFormatter

    values, shares = section.get("values") or [], section.get("shares") or []
    tests = section.get("tests")
    marks = [" *" if t and t.get("significant") else "" for t in tests] if tests else []
    n, k = len(names), max(len(values), 1)
    canvas.set_figheight(1.5 + 0.17 * n * k + 0.1 * k)
    ax = canvas.subplots()
    bar = 0.8 / max(n, 1)
    for i, name in enumerate(names):
        ys = [j + (i - (n - 1) / 2) * bar for j in range(len(values))]
        row = [100.0 * s for s in shares[i]] if i < len(shares) else []
        ax.barh(ys, row, height=bar, color=colour(i), label=_text(name))
    labels = [_text(v) + (marks[j] if j < len(marks) else "") for j, v in enumerate(values)]
    ax.set_yticks(range(len(values)), labels)
    ax.set_ylim(len(values) - 0.5, -0.5)
    ax.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.set_xlabel("share of the audience's users")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    canvas.legend(loc="outside lower center", ncols=min(n, 3))


def _histogram(canvas: Canvas, section: Mapping[str, Any], names: Sequence[str]) -> None:
    """Step histograms of each audience's share of users per bin, its median dashed."""
    from matplotlib.ticker import PercentFormatter

    hist, known = section["histogram"], section["known"]
    edges = [float(e) for e in hist["edges"]]
    medians = section.get("quantiles", {}).get("p50") or [None] * len(names)
    canvas.set_figheight(3.4)
    ax = canvas.subplots()
    for i, name in enumerate(names):
        total = known[i] or 1
        shares = [100.0 * c / total for c in hist["counts"][i]]
        ax.stairs(shares, edges, color=colour(i), fill=True, alpha=0.12)
        label = _text(name)
        if medians[i] is not None:
            ax.axvline(medians[i], color=colour(i), linestyle="--", linewidth=1.3)
            label += f" (median {number(medians[i])})"
        ax.stairs(shares, edges, color=colour(i), linewidth=1.8, label=label)
    if hist.get("log"):
        positive = [e for e in edges if e > 0]
        if edges and edges[0] > 0:
            ax.set_xscale("log")
        else:  # a log axis cannot show 0: linear up to the first positive edge
            ax.set_xscale("symlog", linthresh=positive[0] if positive else 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.set_ylabel("share of users with a value")
    ax.set_xlabel(_text(section["label"], 60) + (" (log scale)" if hist.get("log") else ""))
    canvas.legend(loc="outside lower center")


def _heat_maps(canvas: Canvas, section: Mapping[str, Any], names: Sequence[str]) -> None:
    """A 7x24 heat map per audience on one colour scale: the mean share of a user's week."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    matrices = section["matrix"]
    top = max((v for m in matrices for row in m for v in row), default=0.0) or 1.0
    canvas.set_figheight(1.0 + 1.75 * len(names))
    axes = canvas.subplots(len(names), 1, squeeze=False, sharex=True)[:, 0]
    mesh = None
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        mesh = ax.pcolormesh(
            matrices[i], cmap="viridis", vmin=0.0, vmax=top, edgecolors="white", linewidth=0.4
        )
        ax.set_yticks([d + 0.5 for d in range(7)], WEEKDAYS, fontsize=9)
        ax.set_ylim(7, 0)
        ax.set_xticks([h for h in range(0, 25, 3)], [f"{h:02d}h" for h in range(0, 25, 3)])
        ax.tick_params(length=0)
        ax.spines[:].set_visible(False)
        users = section.get("users", [0] * len(names))[i]
        ax.set_title(f"{_text(name)} · {number(users)} with activity", color=colour(i))
    if mesh is not None:
        bar = canvas.colorbar(mesh, ax=list(axes), location="bottom", shrink=0.8, aspect=40)
        bar.ax.xaxis.set_major_locator(MaxNLocator(5))
        bar.ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        bar.set_label("mean share of a user's week in that hour", fontsize=9)


DRAWERS: Final[dict[str, Draw]] = {
    "category": _bars,
    "list": _bars,
    "number": _histogram,
    "hours": _heat_maps,
}
