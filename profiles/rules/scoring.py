"""Model tags: a logistic regression with published coefficients, scored in the stream.

``model: {kind: logistic, features: {"category_affinity.baby": 3.1, "spend_30d": 0.001},
intercept: -2.0, output: probability}`` (or ``output: label`` with ``threshold`` and ``labels:
[no, yes]``). A feature is a number or bool tag (true counts 1), or a key of a lookup tag
(``lookup.key``: the share, 0 when the user has none); a null feature counts 0, so every user
gets a score. Training is elsewhere (``portrait model fit`` writes the coefficients into the
rules file); here only the scoring, deterministic: features are summed in name order and the
probability rounded to 6 decimals, so the same profile gives the same value on every worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from profiles.rules.catalogue import NUMERIC, RulesError, TagType, bool_hint, unknown
from profiles.rules.nodes import MISSING_SHARE

DIGITS: Final = 6
_KEYS: Final = frozenset({"kind", "features", "intercept", "output", "threshold", "labels"})


@dataclass(frozen=True, slots=True)
class Logistic:
    features: tuple[tuple[str, str | None, float], ...]  # (tag, lookup key, coefficient)
    intercept: float
    output: str = "probability"  # or "label"
    threshold: float = 0.5
    labels: tuple[str, str] = ("no", "yes")

    def reads(self) -> frozenset[str]:
        return frozenset(tag for tag, _, _ in self.features)

    def tag_type(self) -> TagType:
        if self.output == "label":
            return TagType("str", values=self.labels)
        return TagType("float")

    def spec(self) -> dict[str, Any]:
        """The canonical form the rules' version hashes."""
        names = {(f"{t}.{k}" if k is not None else t): c for t, k, c in self.features}
        return {
            "kind": "logistic",
            "features": names,
            "intercept": self.intercept,
            "output": self.output,
            "threshold": self.threshold,
            "labels": list(self.labels),
        }


def feature(value: object, key: str | None) -> float:
    """A feature's number: a lookup's share, true as 1, null (or anything else) as 0."""
    if key is not None:
        value = value.get(key, MISSING_SHARE) if isinstance(value, dict) else None
    if isinstance(value, int | float):  # a bool too: true counts 1
        return float(value)
    return 0.0


def probability(z: float) -> float:
    """The logistic function, without overflow for large ``|z|``, rounded."""
    if z >= 0:
        p = 1.0 / (1.0 + math.exp(-z))
    else:
        e = math.exp(z)
        p = e / (1.0 + e)
    return round(p, DIGITS)


def scorer(model: Logistic) -> Callable[[Mapping[str, Any]], float | str]:
    """The model's value of a tag mapping, as one closure built once."""
    features, intercept = model.features, model.intercept

    def score(tags: Mapping[str, Any]) -> float:
        z = intercept
        for tag, key, coefficient in features:
            z += coefficient * feature(tags.get(tag), key)
        return probability(z)

    if model.output == "probability":
        return score
    threshold, (no, yes) = model.threshold, model.labels
    return lambda tags: yes if score(tags) >= threshold else no


def parse_model(spec: object, types: Mapping[str, TagType]) -> Logistic:
    """A model from its mapping; :class:`RulesError` with the path of the bad part."""
    if not isinstance(spec, Mapping):
        raise RulesError("model needs a mapping: {kind: logistic, features: ..., intercept: ...}")
    for key in spec:
        if key not in _KEYS:
            raise RulesError(unknown("model key", key, _KEYS), path=(key,), at_key=True)
    if spec.get("kind") != "logistic":
        raise RulesError(f"model kind must be logistic, not {spec.get('kind')!r}", path=("kind",))
    features = spec.get("features")
    if not isinstance(features, Mapping) or not features:
        raise RulesError(
            "features needs a mapping of tag (or lookup.key) to coefficient", path=("features",)
        )
    parsed = tuple(
        (*_feature(name, types), _number(coefficient, ("features", name)))
        for name, coefficient in sorted(features.items(), key=lambda kv: str(kv[0]))
    )
    intercept = _number(spec.get("intercept", 0.0), ("intercept",))
    output = spec.get("output", "probability")
    if output not in ("probability", "label"):
        raise RulesError(f"output must be probability or label, not {output!r}", path=("output",))
    threshold = _number(spec.get("threshold", 0.5), ("threshold",))
    if not 0.0 < threshold < 1.0:
        raise RulesError(
            f"threshold must lie strictly between 0 and 1, not {threshold}", path=("threshold",)
        )
    labels = spec.get("labels", ["no", "yes"])
    if (
        not isinstance(labels, list)
        or len(labels) != 2
        or not all(isinstance(v, str) for v in labels)
        or labels[0] == labels[1]
    ):
        hint = bool_hint(labels[0]) if isinstance(labels, list) and labels else ""
        what = f"labels needs two different strings: [below, at or above threshold]{hint}"
        raise RulesError(what, path=("labels",))
    return Logistic(parsed, intercept, str(output), threshold, (labels[0], labels[1]))


def _feature(name: object, types: Mapping[str, TagType]) -> tuple[str, str | None]:
    path = ("features", name if isinstance(name, str | int) else str(name))
    if not isinstance(name, str):
        raise RulesError(f"a feature name is a string, not {name!r}", path=path, at_key=True)
    tag, _, key = name.partition(".")
    if tag not in types:
        raise RulesError(unknown("tag", tag, types), path=path, at_key=True)
    kind = types[tag].kind
    if kind == "lookup":
        if not key:
            raise RulesError(
                f"{tag} is a lookup tag: name a key, e.g. {tag}.some_key", path=path, at_key=True
            )
        return tag, key
    if key:
        raise RulesError(
            f"{tag} is not a lookup tag: {name!r} takes no key", path=path, at_key=True
        )
    if kind not in NUMERIC and kind != "bool":
        what = types[tag].describe()
        raise RulesError(
            f"feature {tag} must be a number or bool tag; it is {what}", path=path, at_key=True
        )
    return tag, None


def _number(value: object, path: tuple[str | int, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RulesError(f"{path[-1]} needs a finite number, not {value!r}", path=path)
    return float(value)
