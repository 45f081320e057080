"""The numeric profile tags of a whole log file, computed in one batch with DuckDB.

This is a second, independent implementation of docs/tags.md for checking the streaming model:
it shares no code with ``profiles/`` or ``streams/`` (it must not import them). It reads the raw
CSV file itself, applies the replay adapters' mapping itself and evaluates every definition as
a set-based query over all the events at once, as of one time *T*.

Formats (the mapping of ``portrait replay``):

``taobao``  Taobao UserBehavior, no header: ``user_id,item_id,category_id,behavior_type,timestamp``.
            ``pv``/``cart``/``fav``/``buy`` -> view/add_to_cart/favorite/purchase; event id
            ``tb:{user}:{item}:{behavior}:{timestamp}``; ts = timestamp x 1000; category =
            category_id; no brand, no price (a purchase amounts to 0); local time Asia/Shanghai,
            a fixed UTC+8 (no DST since 1991).
``rees46``  REES46, with a header: ``event_time,event_type,product_id,category_id,category_code,
            brand,price,user_id,user_session``. ``view``/``cart``/``remove_from_cart``/``purchase``
            -> view/add_to_cart/remove_from_cart/purchase; the event id is derived from the whole
            line, so exact duplicate lines are one event; ts = event_time (UTC); category =
            category_code, else category_id; brand when not empty; a purchase amounts to its price
            (quantity 1; 0 without a price); local time UTC.

A row of an unknown behaviour type is an error (the mapping does not say what it is). Neither
format has order ids, coupons, or search/login/register/identify events: every purchase event is
an order of its own.

``batch_tags`` returns ``{user_id: {tag: value}}`` with the tags of :data:`COMPARED_TAGS` (the
same JSON shapes as ``portrait profile get``: counts are ints, money floats, times RFC 3339 with
milliseconds and ``Z``, rankings lists of names) plus the scores behind the rankings, which are
not tags: ``active_hours`` ``{hour_of_week: score}`` (positive bins), ``category_scores``,
``brand_scores``, ``hour_scores`` ``{hour_of_day: score}`` and ``weekday_scores``
``{weekday: score}``. :func:`compare_user` compares one user's streaming output with them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import duckdb

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
HALF_LIFE_MS: Final = 30 * DAY_MS  # affinity and active hours (profile.*_half_life defaults)
WINDOWS: Final = (1, 7, 30, 180)
TOP_N: Final = 5  # top_categories, top_brands
PEAK_HOURS_N: Final = 3
REL_TOL: Final = 1e-9
ABS_TOL: Final = 1e-9

# Behaviour type -> tag prefix (docs/tags.md "Conventions").
PREFIXES: Final = {
    "view": "views",
    "click": "clicks",
    "search": "searches",
    "add_to_cart": "cart_adds",
    "remove_from_cart": "cart_removes",
    "purchase": "purchases",
    "favorite": "favorites",
    "login": "logins",
}
# Affinity weights (profile.affinity_weights defaults); every other type weighs 0.
WEIGHTS: Final = {
    "view": 1,
    "click": 1,
    "search": 1,
    "favorite": 2,
    "add_to_cart": 3,
    "purchase": 5,
}
FORMATS: Final = ("taobao", "rees46")
TAOBAO_TYPES: Final = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}
REES46_TYPES: Final = {
    "view": "view",
    "cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "purchase": "purchase",
}
UTC_OFFSET_MS: Final = {"taobao": 8 * HOUR_MS, "rees46": 0}  # Asia/Shanghai is UTC+8 all year

COUNTER_TAGS: Final = (
    "events_total",
    *(f"{p}_{w}d" for p in PREFIXES.values() for w in WINDOWS),
    *(f"{p}_total" for p in PREFIXES.values()),
    "active_days_30d",
)
RECENCY_TAGS: Final = (
    "first_seen",
    "last_seen",
    "last_purchase_at",
    "days_since_first_seen",
    "days_since_last_seen",
    "days_since_last_purchase",
)
MONETARY_TAGS: Final = (
    *(f"spend_{w}d" for w in WINDOWS),
    "spend_total",
    "orders_total",
    "orders_30d",
    "orders_180d",
    "max_order_value",
    "avg_order_value",
)
RANKING_TAGS: Final = (
    "top_category",
    "top_categories",
    "top_brand",
    "top_brands",
    "peak_hours",
    "peak_hour",
    "peak_weekday",
)
COMPARED_TAGS: Final = (*COUNTER_TAGS, *RECENCY_TAGS, *MONETARY_TAGS, *RANKING_TAGS)
SCORE_KEYS: Final = (
    "active_hours",
    "category_scores",
    "brand_scores",
    "hour_scores",
    "weekday_scores",
)

_EPOCH: Final = dt.date(1970, 1, 1)  # a Thursday: weekday 3 with Monday = 0


def rfc3339_ms(ts_ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of a Unix time in ms, built from whole-number arithmetic."""
    days, in_day = divmod(ts_ms, DAY_MS)
    hours, rest = divmod(in_day, HOUR_MS)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    date = _EPOCH + dt.timedelta(days=days)
    return f"{date.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def days_since(as_of_ms: int, ts_ms: int | None) -> int | None:
    return None if ts_ms is None else max(0, (as_of_ms - ts_ms) // DAY_MS)


# --- loading --------------------------------------------------------------------------------------


def _sql_map(column: str, mapping: Mapping[str, str]) -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {column} {cases} END"


def _load(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> None:
    """Create the table ``ev(user_id, type, ts, category, brand, amount, local_ms)``: one row
    per distinct event, mapped as ``portrait replay`` maps the format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if fmt == "taobao":
        columns = ["user_id", "item_id", "category_id", "behavior_type", "ts_s"]
        header = "false"
    else:
        columns = [
            "event_time",
            "event_type",
            "product_id",
            "category_id",
            "category_code",
            "brand",
            "price",
            "user_id",
            "user_session",
        ]
        header = "true"
    spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    # Every field as text, no quoting: the files hold no quote characters, so a row's fields
    # determine its raw line, and a row's position in the table is its line's position.
    con.execute(
        f"CREATE TABLE raw AS SELECT * FROM read_csv(?, header = {header}, columns = {spec}, "
        "delim = ',', quote = '', escape = '', auto_detect = false, strict_mode = true)",
        [str(path)],
    )
    if fmt == "taobao":
        kind = "behavior_type"
        mapped = f"""
            SELECT rowid AS pos,
                   'tb:' || user_id || ':' || item_id || ':' || behavior_type || ':' || ts_s
                       AS event_id,
                   user_id,
                   {_sql_map("behavior_type", TAOBAO_TYPES)} AS type,
                   CAST(ts_s AS BIGINT) * 1000 AS ts,
                   category_id AS category,
                   CAST(NULL AS VARCHAR) AS brand,
                   CAST(0.0 AS DOUBLE) AS amount
            FROM raw"""
    else:
        kind = "event_type"
        whole_line = " || ',' || ".join(f"coalesce({c}, '')" for c in columns)
        mapped = f"""
            SELECT rowid AS pos,
                   {whole_line} AS event_id,
                   user_id,
                   {_sql_map("event_type", REES46_TYPES)} AS type,
                   epoch_ms(strptime(event_time, '%Y-%m-%d %H:%M:%S UTC')) AS ts,
                   coalesce(nullif(category_code, ''), nullif(category_id, '')) AS category,
                   nullif(brand, '') AS brand,
                   coalesce(CAST(nullif(price, '') AS DOUBLE), 0.0) AS amount
            FROM raw"""
    unknown = con.execute(
        f"SELECT DISTINCT {kind} FROM raw WHERE {kind} NOT IN "
        f"({', '.join(repr(k) for k in (TAOBAO_TYPES if fmt == 'taobao' else REES46_TYPES))}) "
        f"OR {kind} IS NULL"
    ).fetchall()
    if unknown:
        raise ValueError(f"{path}: behaviour types without a mapping: {sorted(map(str, unknown))}")
    offset = UTC_OFFSET_MS[fmt]
    # The first line of each event id is the event (exact duplicates are one event).
    con.execute(
        f"""
        CREATE TABLE ev AS
        SELECT user_id, type, ts, category, brand, amount, ts + {offset} AS local_ms
        FROM ({mapped})
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY pos) = 1
        """
    )


# --- the tags -------------------------------------------------------------------------------------


def _day(expr: str) -> str:
    """The UTC day number of a time in ms (floor division, also before 1970)."""
    return f"(({expr}) - ((({expr}) % {DAY_MS}) + {DAY_MS}) % {DAY_MS}) // {DAY_MS}"


def _decay(as_of_ms: int) -> str:
    return f"pow(2.0, -CAST({as_of_ms} - ts AS DOUBLE) / {HALF_LIFE_MS})"


def _weight() -> str:
    cases = " ".join(f"WHEN '{k}' THEN {v}" for k, v in WEIGHTS.items())
    return f"CASE type {cases} ELSE 0 END"


def _ranked(scores: Mapping[Any, float], n: int) -> list[Any]:
    """The names with a positive score, by score descending (compared rounded to 9 decimals, so
    sums of the same terms in another order tie) then name ascending, at most n."""
    positive = [(name, s) for name, s in scores.items() if s > 0]
    positive.sort(key=lambda item: (-round(item[1], 9), item[0]))
    return [name for name, _ in positive[:n]]


def batch_tags(path: Path, fmt: str, as_of_ms: int | None = None) -> dict[str, dict[str, Any]]:
    """Every user's tags (and ranking scores) over the whole file, as of ``as_of_ms`` (default:
    the file's latest event time)."""
    con = duckdb.connect()
    try:
        _load(con, path, fmt)
        return _tags(con, as_of_ms)
    finally:
        con.close()


def latest_event_ms(path: Path, fmt: str) -> int | None:
    """The file's latest event time (the default as-of of :func:`batch_tags`)."""
    con = duckdb.connect()
    try:
        _load(con, path, fmt)
        row = con.execute("SELECT max(ts) FROM ev").fetchone()
        return None if row is None or row[0] is None else int(row[0])
    finally:
        con.close()


def _tags(con: duckdb.DuckDBPyConnection, as_of_ms: int | None) -> dict[str, dict[str, Any]]:
    if as_of_ms is None:
        latest = con.execute("SELECT max(ts) FROM ev").fetchone()
        if latest is None or latest[0] is None:
            return {}
        as_of_ms = int(latest[0])
    t = as_of_ms
    last_day = t // DAY_MS
    day = _day("ts")

    def in_window(days: int) -> str:
        return f"{day} BETWEEN {last_day - days + 1} AND {last_day}"

    behaviours = ", ".join(f"'{b}'" for b in PREFIXES)
    selects: list[tuple[str, str]] = [("events_total", "count(*)")]
    for etype, prefix in PREFIXES.items():
        for w in WINDOWS:
            selects.append(
                (f"{prefix}_{w}d", f"count(*) FILTER (WHERE type = '{etype}' AND {in_window(w)})")
            )
        selects.append((f"{prefix}_total", f"count(*) FILTER (WHERE type = '{etype}')"))
    selects += [
        (
            "active_days_30d",
            f"count(DISTINCT {day}) FILTER (WHERE type IN ({behaviours}) AND {in_window(30)})",
        ),
        ("first_ts", "min(ts)"),
        ("last_ts", "max(ts)"),
        ("last_purchase_ts", "max(ts) FILTER (WHERE type = 'purchase')"),
        ("spend_total", "coalesce(fsum(amount) FILTER (WHERE type = 'purchase'), 0.0)"),
        *(
            (
                f"spend_{w}d",
                f"coalesce(fsum(amount) FILTER (WHERE type = 'purchase' AND {in_window(w)}), 0.0)",
            )
            for w in WINDOWS
        ),
        # Every purchase event is an order of its own (no order ids in these formats); an
        # order's day is its event's day.
        ("orders_total", "count(*) FILTER (WHERE type = 'purchase')"),
        ("orders_30d", f"count(*) FILTER (WHERE type = 'purchase' AND {in_window(30)})"),
        ("orders_180d", f"count(*) FILTER (WHERE type = 'purchase' AND {in_window(180)})"),
        ("max_order_value", "max(amount) FILTER (WHERE type = 'purchase')"),
    ]
    names = [name for name, _ in selects]
    query = (
        "SELECT user_id, "
        + ", ".join(f"{expr} AS {name}" for name, expr in selects)
        + " FROM ev GROUP BY user_id"
    )
    out: dict[str, dict[str, Any]] = {}
    for user_id, *values in con.execute(query).fetchall():
        row = dict(zip(names, values, strict=True))
        first, last, bought = row.pop("first_ts"), row.pop("last_ts"), row.pop("last_purchase_ts")
        tags: dict[str, Any] = {name: row[name] for name in COUNTER_TAGS}
        tags |= {
            "first_seen": rfc3339_ms(first),
            "last_seen": rfc3339_ms(last),
            "last_purchase_at": None if bought is None else rfc3339_ms(bought),
            "days_since_first_seen": days_since(t, first),
            "days_since_last_seen": days_since(t, last),
            "days_since_last_purchase": days_since(t, bought),
        }
        orders = row["orders_total"]
        tags |= {name: row[name] for name in MONETARY_TAGS if name != "avg_order_value"}
        tags["avg_order_value"] = row["spend_total"] / orders if orders else None
        for key in SCORE_KEYS:
            tags[key] = {}
        out[str(user_id)] = tags

    decay, weight = _decay(t), _weight()
    for field, key in (("category", "category_scores"), ("brand", "brand_scores")):
        scores = con.execute(
            f"SELECT user_id, {field}, fsum({weight} * {decay}) FROM ev "
            f"WHERE {field} IS NOT NULL GROUP BY ALL"
        ).fetchall()
        for user_id, name, score in scores:
            out[str(user_id)][key][str(name)] = score
    local_day = _day("local_ms")
    hours = con.execute(
        f"SELECT user_id, ((({local_day}) + 3) % 7) * 24 "
        f"+ ((local_ms - ({local_day}) * {DAY_MS}) // {HOUR_MS}) AS how, fsum({decay}) "
        f"FROM ev WHERE type IN ({behaviours}) GROUP BY ALL"
    ).fetchall()
    for user_id, how, score in hours:
        out[str(user_id)]["active_hours"][int(how)] = score

    for tags in out.values():
        by_hour: dict[int, float] = {}
        by_weekday: dict[int, float] = {}
        for how, score in tags["active_hours"].items():
            by_hour[how % 24] = by_hour.get(how % 24, 0.0) + score
            by_weekday[how // 24] = by_weekday.get(how // 24, 0.0) + score
        tags["hour_scores"], tags["weekday_scores"] = by_hour, by_weekday
        categories = _ranked(tags["category_scores"], TOP_N)
        brands = _ranked(tags["brand_scores"], TOP_N)
        peak = _ranked(by_hour, PEAK_HOURS_N)
        weekday = _ranked(by_weekday, 1)
        tags |= {
            "top_category": categories[0] if categories else None,
            "top_categories": categories,
            "top_brand": brands[0] if brands else None,
            "top_brands": brands,
            "peak_hours": peak,
            "peak_hour": peak[0] if peak else None,
            "peak_weekday": weekday[0] if weekday else None,
        }
    return out


# --- comparing with the streaming output ---------------------------------------------------------


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def ranking_consistent(names: Sequence[Any], scores: Mapping[Any, float], n: int) -> bool:
    """Whether ``names`` is a top-``n`` ranking of the positive ``scores`` (score descending,
    name ascending), accepting either order of two names whose scores are within tolerance
    (the streaming sums may differ from these in the last bits)."""
    candidates = {name: s for name, s in scores.items() if s > 0}
    if len(names) != min(n, len(candidates)) or len(set(names)) != len(names):
        return False
    if any(name not in candidates for name in names):
        return False
    listed = [candidates[name] for name in names]
    for i, earlier in enumerate(listed):
        for later in listed[i + 1 :]:
            if later > earlier and not close(later, earlier):
                return False
    lowest = min(listed, default=math.inf)
    return all(
        s <= lowest or close(s, lowest) for name, s in candidates.items() if name not in names
    )


def _name(entry: Any) -> Any:
    """A ranking entry's name: the entry itself, or the name of a ``[name, score]`` pair or a
    ``{"name": ...}`` object."""
    if isinstance(entry, Mapping):
        for key in ("name", "category", "brand", "hour"):
            if key in entry:
                return entry[key]
    if isinstance(entry, list | tuple) and entry:
        return entry[0]
    return entry


def _as_int(value: Any) -> Any:
    try:
        return int(value) if not isinstance(value, bool) else value
    except (TypeError, ValueError):
        return value


def values_equal(streamed: Any, expected: Any) -> bool:
    """Equal JSON values: a count (int) must be the same int; an amount (float) may be any
    number within tolerance."""
    if expected is None or streamed is None:
        return streamed is None and expected is None
    if isinstance(expected, bool) or isinstance(streamed, bool):
        return streamed is expected
    if isinstance(expected, int):
        return isinstance(streamed, int) and streamed == expected
    if isinstance(expected, float) and isinstance(streamed, int | float):
        return close(float(streamed), expected)
    return type(streamed) is type(expected) and bool(streamed == expected)


MISSING: Final = "<missing>"


def compare_user(
    expected: Mapping[str, Any],
    tags: Mapping[str, Any],
    active_hours: Mapping[Any, Any] | None,
) -> dict[str, tuple[Any, Any]]:
    """One user's mismatches, ``{tag: (streamed, expected)}``: every tag of
    :data:`COMPARED_TAGS` and the ``active_hours`` histogram."""
    bad: dict[str, tuple[Any, Any]] = {}
    rankings: dict[str, tuple[str, int, bool]] = {
        "top_category": ("category_scores", 1, True),
        "top_categories": ("category_scores", TOP_N, False),
        "top_brand": ("brand_scores", 1, True),
        "top_brands": ("brand_scores", TOP_N, False),
        "peak_hours": ("hour_scores", PEAK_HOURS_N, False),
        "peak_hour": ("hour_scores", 1, True),
        "peak_weekday": ("weekday_scores", 1, True),
    }
    for tag in COMPARED_TAGS:
        want = expected[tag]
        if tag not in tags:
            bad[tag] = (MISSING, want)
            continue
        got = tags[tag]
        if tag in rankings:
            key, n, scalar = rankings[tag]
            hours = key in ("hour_scores", "weekday_scores")
            if scalar:
                names = [] if got is None else [got]
            elif isinstance(got, list):
                names = [_name(entry) for entry in got]
            else:
                bad[tag] = (got, want)
                continue
            if hours and not all(isinstance(h, int) and not isinstance(h, bool) for h in names):
                ok = False
            else:
                ok = ranking_consistent(names, expected[key], n)
        else:
            ok = values_equal(got, want)
        if not ok:
            bad[tag] = (got, want)
    want_hours: dict[int, float] = expected["active_hours"]
    if active_hours is None:
        bad["active_hours"] = (MISSING, want_hours)
    else:
        got_hours = {_as_int(h): s for h, s in active_hours.items()}
        if set(got_hours) != set(want_hours) or not all(
            isinstance(s, int | float) and close(float(s), want_hours[h])
            for h, s in got_hours.items()
        ):
            bad["active_hours"] = (got_hours, want_hours)
    return bad
