"""The names the model is keyed by, listed once: every other module imports them from here."""

from __future__ import annotations

import re
from typing import Final

# Behaviour types counted per day, in the order of a day bucket's slots (stored states hold
# counts in this order: append only, never reorder).
BEHAVIOURS: Final = (
    "view", "click", "search", "add_to_cart", "remove_from_cart", "purchase", "favorite", "login",
)  # fmt: skip
# The other event types of the contract: counted in lifetime totals only, after the behaviours.
OTHER_TYPES: Final = ("register", "identify")
EVENT_TYPES: Final = frozenset((*BEHAVIOURS, *OTHER_TYPES))
# Administrative types: accepted by the decoder, applied to the rules' state only (never
# counted, never moving the user's stream time). ``tag`` sets a manual tag (docs/rules.md).
TAG_EVENT: Final = "tag"
# ``erase`` ends a user's history at its place in the user's partition (docs/privacy.md): the
# state restarts empty, or stays gone for a suppressed user. Sent by `portrait profile erase` and
# ``DELETE /v1/profiles/{id}`` after they erased the stored data, never by an app backend.
ERASE_EVENT: Final = "erase"
# A business tag's or segment's name (profiles/rules): what a tag event may set.
TAG_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
ADMIN_TYPES: Final = frozenset({TAG_EVENT, ERASE_EVENT})

# The recorded tags (profiles/changes.py). Codes are positions in this tuple: append only, never
# reorder (stored states refer to them).
SEGMENTS: Final = (
    "lifecycle", "high_value", "potential", "churn_risk", "churn_risk_strong", "rfm_r", "rfm_f",
    "rfm_m", "rfm", "rfm_segment", "shopping_type", "top_category", "top_brand", "price_band",
    "purchase_gender", "repeated_search", "peak_hour", "device_top", "channel_top", "age_band",
)  # fmt: skip
# Segments by kind of value (streams/ops/census.py creates their metric series from these).
FLAG_SEGMENTS: Final = ("high_value", "potential", "churn_risk", "churn_risk_strong")  # bools
RFM_SCORE_SEGMENTS: Final = ("rfm_r", "rfm_f", "rfm_m")  # 1..5, None before a purchase
# The segments whose values are few enough to label a metric with (the others count as "*").
BOUNDED_SEGMENTS: Final = frozenset(
    {"lifecycle", "high_value", "potential", "churn_risk", "churn_risk_strong", "rfm_r", "rfm_f",
     "rfm_m", "rfm_segment", "shopping_type", "price_band", "purchase_gender", "age_band"}
)  # fmt: skip
assert set(SEGMENTS) >= BOUNDED_SEGMENTS
