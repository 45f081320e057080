"""``portrait insight``: audiences read out of Redis (``scan``), compared by the pure core
(``profiles.insight``), and drawn as one self-contained HTML report with the same figures as
PNG and the report as JSON beside it (``figures``, ``html``).

matplotlib is an optional dependency (``pip install 'portrait[insight]'``): it is imported only
when figures are drawn, so that the rest of ``portrait`` never pays for it, and its absence is
one line naming the extra (:class:`InsightError`), not a traceback.
"""

from __future__ import annotations

from streams.errors import CommandError

INSTALL_HINT = "pip install 'portrait[insight]'"


class InsightError(CommandError):
    """A report that cannot be drawn or written, in one line (exit 2: fix it and run again)."""


def missing_matplotlib() -> InsightError:
    """The one-line error for a Python without matplotlib."""
    return InsightError(f"portrait insight draws its figures with matplotlib: {INSTALL_HINT}")
