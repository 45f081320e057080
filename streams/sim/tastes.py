"""Which categories a simulated user favours: a moderate, documented lean by declared gender.

Retail data shows a "purchase gender": some categories are bought far more by women (beauty,
fashion), others by men (electronics, sports). The simulator had none (favourite categories
drawn uniformly), so a model fitted on its labelled users could learn nothing (AUC 0.5). Here a
user's favourites are drawn without replacement with gender-dependent weights, so such a model
has something real, and bounded, to find (bench/model_fit.py measures it; docs/rules.md "Model
tags"). The lean is moderate on purpose: every category keeps fans of every gender, and the
views outside the favourites stay uniform, so no category gives the gender away.

Pure, with no import of the catalogue: the weights are keyed by category name, and a test holds
them to the catalogue's names.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

# category -> (weight for women, weight for men); a category not listed weighs 1 for everyone,
# and so does every category for a gender not listed here (non_binary).
GENDER_LEAN: Final[dict[str, tuple[float, float]]] = {
    "beauty": (2.2, 0.45),
    "fashion": (1.6, 0.65),
    "home": (1.2, 0.85),
    "toys": (1.1, 0.9),
    "books": (1.0, 1.0),
    "grocery": (1.0, 1.0),
    "sports": (0.7, 1.5),
    "electronics": (0.55, 1.9),
}
_COLUMN: Final = {"female": 0, "male": 1}


def lean_weights(names: Sequence[str], gender: object) -> tuple[float, ...]:
    """The weight of each category (in ``names`` order) for a user of ``gender``."""
    column = _COLUMN.get(gender) if isinstance(gender, str) else None
    if column is None:
        return tuple(1.0 for _ in names)
    return tuple(GENDER_LEAN.get(name, (1.0, 1.0))[column] for name in names)


def favourite_categories(
    rng: random.Random, names: Sequence[str], gender: object, k: int
) -> tuple[int, ...]:
    """``k`` distinct category indexes, drawn one by one with the gender's weights among the
    categories not drawn yet (so a strong lean cannot pick a category twice)."""
    weights = list(lean_weights(names, gender))
    left = list(range(len(names)))
    picked: list[int] = []
    for _ in range(min(k, len(left))):
        r = rng.random() * sum(weights[i] for i in left)
        for position, index in enumerate(left):
            r -= weights[index]
            if r < 0 or position == len(left) - 1:
                picked.append(left.pop(position))
                break
    return tuple(picked)
