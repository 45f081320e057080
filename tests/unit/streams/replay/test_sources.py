"""Replay adapters: log rows -> contract messages, row by row (pure, files in tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import xxhash

from profiles.events import REJECT_REASONS, Rejected, decode
from streams.replay.adapters import REES46_HEADER, Message, rees46_message, taobao_message
from streams.replay.sources import Feed, detect_format, read_messages

# The shared logs, used in place (/work/shared/data/README.md); PORTRAIT_DATA_DIR overrides.
DATA = Path(
    os.environ.get("PORTRAIT_DATA_DIR") or Path(__file__).resolve().parents[5] / "shared/data"
)
REAL_FILES = {
    "rees46": DATA / "rees46_multicategory_2019oct_head" / "2019-Oct.head.csv",
    "taobao": DATA / "taobao_userbehavior_by_user" / "UserBehavior.csv",
    "taobao-slice": DATA / "taobao_userbehavior_time_slice" / "UserBehavior.csv",
}
TB_TS = 1511544070  # 2017-11-24T17:21:10Z
R46_TIME = "2019-10-01 00:00:05 UTC"
R46_MS = 1569888005000
KETTLE, CATEGORY_ID = "appliances.kitchen.kettle", "2103807459595387724"


def write(tmp_path: Path, text: str | bytes, name: str = "log") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def value(message: Message) -> dict[str, Any]:
    return orjson.loads(message.value)  # type: ignore[no-any-return]


def reason_of(message: Message) -> str:
    with pytest.raises(Rejected) as info:
        decode(message.value)
    assert info.value.reason in REJECT_REASONS
    return info.value.reason


# --- Taobao UserBehavior ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour,etype",
    [("pv", "view"), ("cart", "add_to_cart"), ("fav", "favorite"), ("buy", "purchase")],
)
def test_taobao_row_maps_each_behaviour(behaviour: str, etype: str) -> None:
    row = f"1,2268318,2520377,{behaviour},{TB_TS}".encode()
    message = taobao_message(row, 7)
    assert message.key == b"1"
    assert message.line == 7
    assert value(message) == {
        "event_id": f"tb:1:2268318:{behaviour}:{TB_TS}",
        "type": etype,
        "user_id": "1",
        "ts": TB_TS * 1000,
        "properties": {"item_id": "2268318", "category": "2520377"},
        "context": {"timezone": "Asia/Shanghai"},
    }
    event = decode(message.value)
    assert (event.type, event.user_id, event.ts, event.item_id, event.category) == (
        etype,
        "1",
        TB_TS * 1000,
        "2268318",
        "2520377",
    )
    assert event.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    "row,reason,error",
    [
        ("1,2268318,2520377,pv", "missing_type", "taobao line 3: 4 columns, expected 5"),
        ("1,2,3,pv,4,5", "missing_type", "taobao line 3: 6 columns, expected 5"),
        ("1,2268318,2520377,click,1511544070", "unknown_type", "behavior_type 'click' is not"),
        ("1,2268318,2520377,view,1511544070", "unknown_type", "behavior_type 'view' is not"),
        ("1,2268318,2520377,pv,15115x4070", "bad_timestamp", "timestamp '15115x4070' is not"),
        ("1,2268318,2520377,pv,", "bad_timestamp", "timestamp '' is not a whole number"),
    ],
)
def test_taobao_row_that_cannot_be_mapped_is_rejected_with_its_reason(
    row: str, reason: str, error: str
) -> None:
    message = taobao_message(row.encode(), 3)
    assert reason_of(message) == reason
    assert error in value(message)["replay_error"]
    assert value(message)["raw"] == row


@pytest.mark.parametrize(
    "row,reason",
    [
        (",2268318,2520377,pv,1511544070", "missing_user"),  # the decoder's own check
        ("{1},2268318,2520377,pv,1511544070", "bad_field"),
        ("1,2268318,2520377,pv,0", "bad_timestamp"),  # 1970: outside 2000..2100
    ],
)
def test_taobao_row_the_decoder_refuses(row: str, reason: str) -> None:
    message = taobao_message(row.encode(), 1)
    assert "replay_error" not in value(message)
    assert reason_of(message) == reason


def test_taobao_ids_are_content_derived() -> None:
    row = b"1,2268318,2520377,pv,1511544070"
    assert taobao_message(row, 1).value == taobao_message(row, 99).value
    other = taobao_message(b"1,2268318,2520377,pv,1511544071", 2)
    assert value(other)["event_id"] != value(taobao_message(row, 1))["event_id"]


# --- REES46 -------------------------------------------------------------------------------------


def r46(
    event_type: str = "view",
    category_code: str = KETTLE,
    brand: str = "tefal",
    price: str = "35.79",
    user: str = "541312140",
    time: str = R46_TIME,
) -> str:
    return (
        f"{time},{event_type},44600062,{CATEGORY_ID},{category_code},{brand},{price},"
        f"{user},72d76fde-8bb3-4e00-8c23-a032dfed738c"
    )


@pytest.mark.parametrize(
    "event_type,etype",
    [
        ("view", "view"),
        ("cart", "add_to_cart"),
        ("remove_from_cart", "remove_from_cart"),
        ("purchase", "purchase"),
    ],
)
def test_rees46_row_maps_each_event_type(event_type: str, etype: str) -> None:
    row = r46(event_type).encode()
    message = rees46_message(row, 2)
    assert message.key == b"541312140"
    assert value(message) == {
        "event_id": "r46:" + xxhash.xxh3_64_hexdigest(row),
        "type": etype,
        "user_id": "541312140",
        "ts": R46_MS,
        "properties": {
            "item_id": "44600062",
            "category": KETTLE,
            "brand": "tefal",
            "price": 35.79,
        },
    }
    assert decode(message.value).type == etype


@pytest.mark.parametrize(
    "row,properties",
    [
        (r46(brand=""), {"category": KETTLE, "price": 35.79}),
        (r46(category_code=""), {"category": CATEGORY_ID, "brand": "tefal", "price": 35.79}),
        (r46(price=""), {"category": KETTLE, "brand": "tefal"}),
        (r46(price="0.00"), {"category": KETTLE, "brand": "tefal", "price": 0.0}),
        (r46(brand="", category_code="", price=""), {"category": CATEGORY_ID}),
    ],
)  # fmt: skip
def test_rees46_empty_fields_are_omitted(row: str, properties: dict[str, Any]) -> None:
    message = rees46_message(row.encode(), 2)
    assert value(message)["properties"] == {"item_id": "44600062", **properties}
    assert "context" not in value(message)
    decode(message.value)  # accepted


@pytest.mark.parametrize(
    "row,reason,error",
    [
        (r46().rsplit(",", 1)[0], "missing_type", "rees46 line 5: 8 columns, expected 9"),
        (r46("refund"), "unknown_type", "event_type 'refund' is not one of"),
        (r46(time="2019-10-01T00:00:05Z"), "bad_timestamp", "event_time '2019-10-01T00:00:05Z'"),
        (r46(time="2019-13-01 00:00:05 UTC"), "bad_timestamp", "is not 'YYYY-MM-DD HH:MM:SS UTC'"),
        (r46(price="abc"), "bad_field", "price 'abc' is not a number"),
        (r46(price="nan"), "bad_field", "price 'nan' is not a number"),
    ],
)
def test_rees46_row_that_cannot_be_mapped_is_rejected_with_its_reason(
    row: str, reason: str, error: str
) -> None:
    message = rees46_message(row.encode(), 5)
    assert reason_of(message) == reason
    assert error in value(message)["replay_error"]
    assert value(message)["raw"] == row


@pytest.mark.parametrize(
    "row,reason",
    [(r46(price="-1"), "bad_field"), (r46(user=""), "missing_user")],
)
def test_rees46_row_the_decoder_refuses(row: str, reason: str) -> None:
    assert reason_of(rees46_message(row.encode(), 2)) == reason


def test_rees46_file_skips_its_header_and_hashes_rows_without_line_endings(tmp_path: Path) -> None:
    header = REES46_HEADER.decode()
    path = write(tmp_path, f"{header}\r\n{r46()}\r\n{r46()}\r\n\r\n{header}\r\n{r46('cart')}\n")
    messages = list(read_messages(path))
    assert [m.line for m in messages] == [2, 3, 6]
    assert messages[0].value == messages[1].value, "identical rows, identical event ids"
    expected_id = "r46:" + xxhash.xxh3_64_hexdigest(r46().encode())
    assert value(messages[0])["event_id"] == expected_id
    assert value(messages[2])["type"] == "add_to_cart"


# --- contract JSONL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,key",
    [
        (b'{"event_id":"e1","type":"view","user_id":"u-1","ts":1717156800000}', b"u-1"),
        (b'{"event_id":"e1","type":"view","user_id":42,"ts":1717156800000}', b"42"),
        (b'{"event_id":"e1","type":"view","anonymous_id":"7c1e","ts":1717156800000}', b"7c1e"),
        (b'{"type":"track","event":"Signed In","userId":"u-2","messageId":"m"}', b"u-2"),
        (b'{"event_id":"e1","type":"view","ts":1717156800000}', b""),
        (b'{"event_id": "e1", "type": "view",', b""),
        (b'[{"event_id":"e1"}]', b""),
    ],
)
def test_jsonl_lines_pass_through_keyed_by_user(tmp_path: Path, line: bytes, key: bytes) -> None:
    path = write(tmp_path, b"\n" + line + b"\r\n")
    assert list(read_messages(path, "jsonl")) == [Message(key, line, 2)]


def test_jsonl_skips_blank_lines_and_counts_them(tmp_path: Path) -> None:
    one = b'{"event_id":"e1","type":"view","user_id":"u","ts":1717156800000}'
    path = write(tmp_path, b"\xef\xbb\xbf" + one + b"\n\n   \n" + one + b"\n")
    assert [m.line for m in read_messages(path)] == [1, 4]


# --- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,fmt", [(n, n.split("-")[0]) for n in REAL_FILES])
def test_detect_format_of_the_real_logs(name: str, fmt: str) -> None:
    if not REAL_FILES[name].is_file():
        pytest.skip(f"{REAL_FILES[name]} is absent (the shared data folder)")
    assert detect_format(REAL_FILES[name]) == fmt


@pytest.mark.parametrize(
    "text,fmt",
    [
        ('\n{"event_id": "e1"}\n', "jsonl"),
        ('  {"broken"\n', "jsonl"),
        (REES46_HEADER.decode() + "\r\n", "rees46"),
        (r46() + "\n", "rees46"),  # a headerless slice
        ("1,2268318,2520377,pv,1511544070\n", "taobao"),
    ],
)
def test_detect_format(tmp_path: Path, text: str, fmt: str) -> None:
    assert detect_format(write(tmp_path, text)) == fmt


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("a,b,c\n", "cannot tell the format"),
        ("1,2268318,2520377,click,1511544070\n", "cannot tell the format"),
    ],
)
def test_detect_format_refuses_what_it_does_not_know(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        detect_format(write(tmp_path, text))


def test_an_unknown_format_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        list(read_messages(write(tmp_path, "x\n"), "csv"))


# --- the feed: replay order and stream time -----------------------------------------------------


def test_feed_sorts_by_event_time_then_line_and_tracks_stream_time(tmp_path: Path) -> None:
    rows = [
        "2,10,100,pv,1511544072",
        "1,11,100,pv,1511544070",
        "1,12,100,nope,1511544071",  # rejected: sorts first
        "3,13,100,buy,1511544070",
    ]
    path = write(tmp_path, "\n".join(rows) + "\n")
    rejected: list[int] = []
    feed = Feed(path, "taobao", sort=True, on_reject=lambda m, exc: rejected.append(m.line))
    seen = [(m.line, feed.newest, round(done, 2)) for m, done in feed]
    assert seen == [(3, 0, 0.25), (2, TB_TS * 1000, 0.5), (4, TB_TS * 1000, 0.75),
                    (1, (TB_TS + 2) * 1000, 1.0)]  # fmt: skip
    assert rejected == [3]
    assert (feed.first_ts, feed.last_ts, feed.users) == (
        TB_TS * 1000,
        (TB_TS + 2) * 1000,
        {"1", "2", "3"},
    )


def test_unsorted_feed_reports_the_share_of_bytes_read(tmp_path: Path) -> None:
    path = write(tmp_path, "1,10,100,pv,1511544072\n2,11,100,pv,1511544070\n")
    assert [(m.line, done) for m, done in Feed(path, "taobao")] == [
        (1, 0.5),
        (2, 1.0),
    ]
