"""The tag names docs/tags.md documents (its tables' first columns), for tests to hold code to."""

from __future__ import annotations

import re
from pathlib import Path

from profiles.aggregators import PREFIXES

TAGS_MD = Path(__file__).resolve().parents[1] / "docs" / "tags.md"


def documented_tags() -> set[str]:
    """Every tag named in the first column of a table in docs/tags.md: ``{prefix}`` stands for
    each behaviour prefix, and a name starting with ``_`` continues the previous one's stem."""
    names: set[str] = set()
    for line in TAGS_MD.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        stem = ""
        for name in re.findall(r"`([a-z0-9_{}]+)`", line.split("|")[1]):
            if name.startswith("_"):
                name = stem + name
            else:
                stem = name.rsplit("_", 1)[0]
            names |= {name.replace("{prefix}", p) for p in PREFIXES} if "{" in name else {name}
    return names
