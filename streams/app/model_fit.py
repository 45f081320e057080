"""The pure parts of ``portrait model fit``: features of a profile, the logistic fit and its
held-out report, and the rewrite of one tag's ``model:`` block in a rules file.

Training features are computed by the very function the stream scores with
(:func:`profiles.rules.scoring.feature`), so the coefficients mean the same on both sides.
scikit-learn is an optional extra (``pip install 'portrait[models]'``): imported only here, only
when a fit runs.

The rewrite is textual: the YAML is composed (not loaded) to find where the tag's ``model:``
value starts and ends, and only that span is replaced, so the rest of the file, comments and
layout included, is kept byte for byte (comments inside the replaced block are not). The new
text is parsed again before it is written: a rewrite that would not give the fitted model is
refused.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from profiles.rules import Logistic
from profiles.rules.scoring import feature
from streams.errors import CommandError

DIGITS: Final = 6  # coefficients as written to the rules file
MIN_PER_CLASS: Final = 2  # a held-out split needs each label on both sides


def feature_names(model: Logistic) -> list[str]:
    """``category_affinity.baby`` for a lookup key, the tag's name otherwise (file order)."""
    return [f"{tag}.{key}" if key is not None else tag for tag, key, _ in model.features]


def feature_row(model: Logistic, tags: Mapping[str, Any]) -> tuple[list[float], bool]:
    """The profile's features as the stream scores them, and whether any is known (a lookup
    key the user has a share of, or a tag that is not null): the coverage's numerator."""
    row, known = [], False
    for tag, key, _ in model.features:
        value = tags.get(tag)
        if key is not None:
            known = known or (isinstance(value, dict) and key in value)
        else:
            known = known or value is not None
        row.append(feature(value, key))
    return row, known


@dataclass
class Fit:
    names: list[str]
    coefficients: list[float]
    intercept: float
    accuracy: float
    auc: float
    train: int
    test: int
    positives: int
    extra: dict[str, Any] = field(default_factory=dict)

    def features(self) -> dict[str, float]:
        return {n: round(c, DIGITS) for n, c in zip(self.names, self.coefficients, strict=True)}


def split(
    n: int, labels: Sequence[int], test_share: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Stratified train / test indexes: each label keeps its share on both sides."""
    rng = random.Random(seed)
    train: list[int] = []
    test: list[int] = []
    for label in (0, 1):
        idx = [i for i in range(n) if labels[i] == label]
        rng.shuffle(idx)
        cut = min(len(idx) - 1, max(1, round(len(idx) * test_share)))
        test.extend(idx[:cut])
        train.extend(idx[cut:])
    return sorted(train), sorted(test)


def fit_logistic(
    rows: Sequence[Sequence[float]], labels: Sequence[int], names: list[str], test_share: float
) -> Fit:
    """Logistic regression on a stratified split: coefficients from the training part, accuracy
    and AUC on the held-out part."""
    counts = [sum(1 for y in labels if y == label) for label in (0, 1)]
    if min(counts) < MIN_PER_CLASS:
        raise CommandError(
            f"need at least {MIN_PER_CLASS} labelled profiles of each class"
            f" (negative: {counts[0]}, positive: {counts[1]})"
        )
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
    except ImportError:
        raise CommandError("model fit needs scikit-learn: pip install 'portrait[models]'") from None
    train, test = split(len(rows), labels, test_share)
    clf = LogisticRegression(max_iter=1000)
    clf.fit([rows[i] for i in train], [labels[i] for i in train])
    x_test, y_test = [rows[i] for i in test], [labels[i] for i in test]
    scores = clf.predict_proba(x_test)[:, 1]
    return Fit(
        names=names,
        coefficients=[float(c) for c in clf.coef_[0]],
        intercept=float(clf.intercept_[0]),
        accuracy=float(accuracy_score(y_test, clf.predict(x_test))),
        auc=float(roc_auc_score(y_test, scores)),
        train=len(train),
        test=len(test),
        positives=sum(labels),
    )


def positive_value(given: str | None, seen: Mapping[str, int], attribute: str) -> str:
    """The label value scored 1: ``--positive``, else the larger of exactly two values seen."""
    if given is not None:
        if given not in seen:
            shown = ", ".join(sorted(seen)) or "none"
            raise CommandError(f"no profile has {attribute} = {given!r} (seen: {shown})")
        return given
    if len(seen) != 2:
        shown = ", ".join(sorted(seen)) or "none"
        raise CommandError(f"{attribute} has values {shown}: say which is positive (--positive)")
    return max(seen)


# --- the rules file ----------------------------------------------------------------------------


def new_model_block(old: Mapping[str, Any], fit: Fit) -> dict[str, Any]:
    """The tag's model mapping with the fitted features and intercept, its other keys kept."""
    out = dict(old)
    out["features"] = fit.features()
    out["intercept"] = round(fit.intercept, DIGITS)
    return out


def _entry(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def _last_end(node: yaml.Node) -> int:
    """Where a block node's text ends: after its last scalar (its own end mark would take the
    comments and blank lines that follow)."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style:
        children = [v for _, v in node.value] if isinstance(node, yaml.MappingNode) else node.value
        if children:
            return _last_end(children[-1])
    return int(node.end_mark.index)


def model_span(text: str, tag: str) -> tuple[int, int, yaml.MappingNode]:
    """Start and end (character offsets) of ``tag``'s ``model:`` value in a rules file."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    tags = _entry(root, "tags") if isinstance(root, yaml.MappingNode) else None
    if isinstance(tags, yaml.SequenceNode):
        for item in tags.value:
            name = _entry(item, "name") if isinstance(item, yaml.MappingNode) else None
            if isinstance(name, yaml.ScalarNode) and name.value == tag:
                model = _entry(item, "model")
                if isinstance(model, yaml.MappingNode):
                    return int(model.start_mark.index), _last_end(model), model
    raise CommandError(f"no model: mapping for tag {tag!r} in the rules file")


def rewrite_model(text: str, tag: str, block: Mapping[str, Any]) -> str:
    """``text`` with ``tag``'s model mapping replaced by ``block`` (flow stays flow)."""
    start, end, node = model_span(text, tag)
    if node.flow_style:
        new = json.dumps(block, ensure_ascii=False)
    else:
        column = node.start_mark.column
        dumped = yaml.safe_dump(dict(block), sort_keys=False, default_flow_style=False,
                                allow_unicode=True, width=10_000).rstrip("\n")  # fmt: skip
        new = ("\n" + " " * column).join(dumped.split("\n"))
    return text[:start] + new + text[end:]
