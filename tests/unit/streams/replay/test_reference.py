"""The price reference: median price per category over a log's priced events (pure)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.app.cli import main
from streams.replay.adapters import Message
from streams.replay.reference import price_reference, price_reference_main
from streams.replay.sources import read_messages
from streams.settings.profile import load_price_reference
from tests.factories import contract_event

TS = 1_717_156_800_000
DATA = Path(
    os.environ.get("PORTRAIT_DATA_DIR") or Path(__file__).resolve().parents[5] / "shared/data"
)
REES46 = DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv"


def msg(etype: str, **props: Any) -> Message:
    return Message(b"u", orjson.dumps(contract_event(etype, "u", TS, **props)), 1)


@pytest.mark.parametrize(
    "messages,expected",
    [
        ([], {}),
        ([msg("view", category="shoes", price=10.0)], {"shoes": 10.0}),
        (  # odd count: the middle one
            [msg("view", category="shoes", price=p) for p in (30.0, 10.0, 20.0)],
            {"shoes": 20.0},
        ),
        (  # even count: the mean of the middle two
            [msg("purchase", category="shoes", price=p) for p in (40.0, 10.0, 30.0, 20.0)],
            {"shoes": 25.0},
        ),
        (  # view, add_to_cart and purchase count; each category apart
            [
                msg("view", category="hats", price=5.0),
                msg("add_to_cart", category="hats", price=7.0),
                msg("purchase", category="hats", price=9.0),
                msg("view", category="bags", price=100.0),
            ],
            {"bags": 100.0, "hats": 7.0},
        ),
        (  # other types, no price, price 0, no category: left out
            [
                msg("view", category="hats", price=5.0),
                msg("favorite", category="hats", price=500.0),
                msg("remove_from_cart", category="hats", price=500.0),
                msg("click", category="hats", price=500.0),
                msg("view", category="hats"),
                msg("view", category="hats", price=0.0),
                msg("view", price=500.0),
            ],
            {"hats": 5.0},
        ),
        (  # rejected messages are left out
            [
                msg("view", category="hats", price=5.0),
                Message(b"", b'{"broken', 2),
                Message(b"u", orjson.dumps({"type": "view", "user_id": "u", "ts": TS}), 3),
                msg("view", category="hats", price=-1.0),
            ],
            {"hats": 5.0},
        ),
    ],
)
def test_price_reference_is_the_median_per_category(
    messages: list[Message], expected: dict[str, float]
) -> None:
    table = price_reference(messages)
    assert table == expected
    assert list(table) == sorted(table)


def test_price_reference_of_the_rees46_log() -> None:
    if not REES46.is_file():
        pytest.skip(f"{REES46} is absent (the shared data folder)")
    table = price_reference(read_messages(REES46))
    # Recomputed from the raw CSV: category_code, else category_id; rows with a price above 0.
    prices: dict[str, list[float]] = {}
    for row in REES46.read_text().splitlines()[1:]:
        cols = row.split(",")
        if cols[6] and float(cols[6]) > 0:
            prices.setdefault(cols[4] or cols[3], []).append(float(cols[6]))
    assert table == {c: statistics.median(p) for c, p in prices.items()}
    assert len(table) > 100


@pytest.mark.parametrize(
    "content,error",
    [
        (b"not json", "is not JSON"),
        (b"[1, 2]", "must be an object of positive prices"),
        (b'{"shoes": "10"}', "must be an object of positive prices"),
        (b'{"shoes": 0}', "must be an object of positive prices"),
        (b'{"shoes": true}', "must be an object of positive prices"),
    ],
)
def test_load_price_reference_refuses_bad_tables(
    tmp_path: Path, content: bytes, error: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=error):
        load_price_reference(path)


def test_load_price_reference_reads_what_the_command_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(
        b"\n".join(m.value for m in [msg("view", category="hats", price=5.0)] * 2) + b"\n"
    )
    assert price_reference_main(log) == 0
    printed = tmp_path / "prices.json"
    printed.write_text(capsys.readouterr().out)
    assert load_price_reference(printed) == {"hats": 5.0}


@pytest.mark.parametrize("name,content", [("missing.csv", None), ("junk.txt", b"a;b;c\n")])
def test_price_reference_command_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["price-reference", str(path)]) == 2  # the CLI words what the command raises
    err = capsys.readouterr().err
    assert err.startswith("portrait price-reference: ") and err.count("\n") == 1
