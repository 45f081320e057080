"""Marketing sensitivity: how a user responds to messages, from their feedback counts (pure).

The feedback consumer keeps, per user, counts ``"<channel>:<status>"``, ``"kind:<kind>:<status>"``
and ``"offer:<offer>:<status>"`` (statuses: delivered, opened, clicked, converted, recalled) in the
hash ``streams.names.sensitivity_key``. This module turns them into tags (docs/feedback.md):
per channel open and conversion rates, the channels the user responds to, whether coupons work on
them, and an overall ``marketing_sensitivity``; and reorders a trigger's channels by them.

Counts are per status, not per message, so a message's journey is not known: the *reach* of a
channel is the most of its delivered, opened, clicked and converted counts (an opened message was
delivered even when its delivery receipt was lost), and its *engagement* the most of opened,
clicked and converted (SMS and some push providers report clicks but no opens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

STATUSES: Final = ("delivered", "opened", "clicked", "converted")
MIN_SAMPLE: Final = 3  # messages reached on a channel (or with an offer) before it is judged
COUPON_OFFER: Final = "coupon"
COUPON_RATE: Final = 0.2  # a coupon conversion rate at least this: coupon sensitive
COUPON_LIFT: Final = 2.0  # ... or at least this many times the conversion rate without coupons
HIGH_CONVERSION: Final = 0.1  # overall conversion rate for "high" sensitivity
HIGH_ENGAGEMENT: Final = 0.5  # ... or overall engagement rate
MEDIUM_ENGAGEMENT: Final = 0.15  # engagement rate for "medium"
MEDIUM_CONVERSION: Final = 0.03  # ... or conversion rate


def parse_counts(raw: Mapping[Any, Any]) -> dict[str, int]:
    """The counts hash as Redis returns it (bytes or str), unreadable entries left out."""
    out: dict[str, int] = {}
    for k, v in raw.items():
        try:
            out[k.decode() if isinstance(k, bytes) else str(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def _count(counts: Mapping[str, int], key: str) -> int:
    return int(counts.get(key, 0))


def reach(counts: Mapping[str, int], prefix: str) -> int:
    """Messages known to have reached the user under ``prefix`` (a channel, ``kind:x``...)."""
    return max(_count(counts, f"{prefix}:{s}") for s in STATUSES)


def engaged(counts: Mapping[str, int], prefix: str) -> int:
    return max(_count(counts, f"{prefix}:{s}") for s in ("opened", "clicked", "converted"))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def channels_of(counts: Mapping[str, int]) -> list[str]:
    """Channels named in the counts, in first-seen order."""
    seen: dict[str, None] = {}
    for key in counts:
        head, _, status = key.partition(":")
        if head not in ("kind", "offer") and status:
            seen.setdefault(head, None)
    return list(seen)


def _score(counts: Mapping[str, int], channel: str) -> tuple[float, float]:
    """Conversion rate first, engagement rate second: the key a channel is ranked by."""
    n = reach(counts, channel)
    return (_count(counts, f"{channel}:converted") / n, engaged(counts, channel) / n)


def responsive_channels(counts: Mapping[str, int]) -> list[str]:
    """Channels with enough reach that the user engaged with at all, best first."""
    found = [
        ch
        for ch in channels_of(counts)
        if reach(counts, ch) >= MIN_SAMPLE and engaged(counts, ch) > 0
    ]
    return sorted(found, key=lambda ch: _score(counts, ch), reverse=True)  # stable on ties


def preferred_channels(counts: Mapping[str, int], channels: tuple[str, ...]) -> tuple[str, ...]:
    """``channels`` reordered best first by the user's response, where the data allows.

    Only channels with at least ``MIN_SAMPLE`` messages reached are moved, among the positions
    they hold; the others keep their place. With fewer than two such channels the given order
    is returned unchanged (too little data to prefer one over another).
    """
    known = [i for i, ch in enumerate(channels) if reach(counts, ch) >= MIN_SAMPLE]
    if len(known) < 2:
        return channels
    ranked = sorted((channels[i] for i in known), key=lambda ch: _score(counts, ch), reverse=True)
    out = list(channels)
    for i, ch in zip(known, ranked, strict=True):
        out[i] = ch
    return tuple(out)


def coupon_sensitive(counts: Mapping[str, int]) -> bool | None:
    """Whether coupons make this user buy; None below ``MIN_SAMPLE`` coupon messages reached."""
    prefix = f"offer:{COUPON_OFFER}"
    n = reach(counts, prefix)
    if n < MIN_SAMPLE:
        return None
    rate = _count(counts, f"{prefix}:converted") / n
    if rate <= 0:
        return False
    if rate >= COUPON_RATE:
        return True
    total_n = sum(reach(counts, ch) for ch in channels_of(counts))
    total_conv = sum(_count(counts, f"{ch}:converted") for ch in channels_of(counts))
    other_n = total_n - n
    if other_n < MIN_SAMPLE:
        return False
    other_rate = max(0, total_conv - _count(counts, f"{prefix}:converted")) / other_n
    return rate >= COUPON_LIFT * other_rate


def marketing_sensitivity(counts: Mapping[str, int]) -> str | None:
    """``high``, ``medium`` or ``low`` over all channels; None below ``MIN_SAMPLE`` reached."""
    chans = channels_of(counts)
    n = sum(reach(counts, ch) for ch in chans)
    if n < MIN_SAMPLE:
        return None
    conversion = sum(_count(counts, f"{ch}:converted") for ch in chans) / n
    engagement = sum(engaged(counts, ch) for ch in chans) / n
    if conversion >= HIGH_CONVERSION or engagement >= HIGH_ENGAGEMENT:
        return "high"
    if engagement >= MEDIUM_ENGAGEMENT or conversion >= MEDIUM_CONVERSION:
        return "medium"
    return "low"


def marketing_tags(counts: Mapping[str, int]) -> dict[str, Any]:
    """The ``marketing`` section of ``portrait profile get`` (docs/feedback.md)."""
    per_channel = {}
    for ch in channels_of(counts):
        n = reach(counts, ch)
        per_channel[ch] = {
            "reached": n,
            "open_rate": _rate(_count(counts, f"{ch}:opened"), n),
            "click_rate": _rate(_count(counts, f"{ch}:clicked"), n),
            "conversion_rate": _rate(_count(counts, f"{ch}:converted"), n),
            "recalled": _count(counts, f"{ch}:recalled"),
        }
    return {
        "channels": per_channel,
        "responsive_channels": responsive_channels(counts),
        "coupon_sensitive": coupon_sensitive(counts),
        "marketing_sensitivity": marketing_sensitivity(counts),
        "counts": dict(sorted(counts.items())),
    }
