"""Segment insight (pure): audiences' distributions tallied in bounded memory, compared side by
side with a significance test and an effect size per difference, and summed up in words.

``portrait insight`` (streams/insight/) scans audiences into :class:`Tally` objects and renders
:func:`compare`'s report document (JSON, version 1, /work/notes/insight-spec.md and
docs/insight.md) as HTML, JSON and PNG. The modules: dimensions (what is compared, how a tag
value is tallied), tally (one audience), numbers (quantiles and histograms from counters),
stats (tests from counts; scipy, imported lazily), summary (the plain-language paragraph),
report (the document).
"""

from profiles.insight.dimensions import DIMENSIONS, Dimension, Kind, Section
from profiles.insight.report import compare
from profiles.insight.stats import Test, adjust, chi_square, rank_test
from profiles.insight.summary import summarize
from profiles.insight.tally import MAX_VALUES, Tally

__all__ = [
    "DIMENSIONS",
    "MAX_VALUES",
    "Dimension",
    "Kind",
    "Section",
    "Tally",
    "Test",
    "adjust",
    "chi_square",
    "compare",
    "rank_test",
    "summarize",
]
