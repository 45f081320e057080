"""One user's (or many users') profile document: the state from Redis, viewed by the pure model,
the business rules' tags and segments beside the built-in tags, the marketing tags of trigger
feedback. ``portrait profile get``, ``GET /v1/profiles/{id}`` and the 360° page all read here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from profiles import codec
from profiles.model import ProfileModel, State
from profiles.rules.engine import RulesEngine
from profiles.rules.ruleset import RuleSet
from profiles.timeutil import rfc3339
from streams.names import Keys
from streams.store.triggers import as_text
from triggers.experiment_outcome import recorded_arms
from triggers.sensitivity import marketing_tags, parse_counts

Document = dict[str, Any]


class ProfileReader:
    """Profile documents, each in one round trip whatever the number of users."""

    def __init__(self, redis: Redis, namespace: str, model: ProfileModel, rules: RuleSet) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.model = model
        self.rules = RulesEngine(model, rules)

    async def document(self, user_id: str, as_of_ms: int) -> Document | None:
        """The profile of ``user_id`` as of ``as_of_ms``; None for an unknown user."""
        return (await self.documents([user_id], as_of_ms)).get(user_id)

    async def documents(self, user_ids: Sequence[str], as_of_ms: int) -> dict[str, Document]:
        """The profiles found among ``user_ids`` (one pipelined round trip: every profile GET
        and every feedback HGETALL together); unknown users are left out."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for user_id in unique:
            pipe.get(self.keys.profile(user_id))
            pipe.hgetall(self.keys.sensitivity(user_id))
            pipe.hgetall(self.keys.experiment(user_id))
        replies = await pipe.execute()
        found: dict[str, Document] = {}
        for i, user_id in enumerate(unique):
            raw, counts, arms = replies[3 * i : 3 * i + 3]
            if raw is None:
                continue
            found[user_id] = self.view(user_id, codec.decode(raw), counts, as_of_ms, arms)
        return found

    def view(
        self,
        user_id: str,
        state: State,
        counts: Mapping[Any, Any],
        as_of_ms: int,
        arms: Mapping[Any, Any] | None = None,
    ) -> Document:
        """The document of a loaded state (pure: the model's view plus the rules' one)."""
        doc = self.model.view(user_id, state, as_of_ms)
        rules = self.rules.view(state, as_of_ms)
        doc["tags"].update(rules["tags"])  # business tags beside the built-in ones
        doc["changed_at"].update(rules["changed_at"])
        doc["segments"] = rules["segments"]
        doc["segments_since"] = rules["segments_since"]
        doc["rules_version"] = rules["rules_version"]
        doc["marketing"] = marketing_tags(parse_counts(counts))  # docs/feedback.md
        doc["experiments"] = experiments(arms or {})  # docs/experiments.md
        return doc


def experiments(raw: Mapping[Any, Any]) -> dict[str, dict[str, Any]]:
    """The user's recorded arms: experiment -> ``{"arm", "exposed_at"}`` (counts left out)."""
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    return {
        name: {"arm": x.arm, "exposed_at": rfc3339(x.at)}
        for name, x in sorted(recorded_arms(fields).items())
    }


def select(doc: Document, fields: Sequence[str]) -> Document:
    """Only the named parts of a document: a top-level key (``tags``) or one entry of a mapping
    (``tags.rfm_segment``); ``user_id`` and ``as_of`` always. Unknown names are left out."""
    out: Document = {"user_id": doc["user_id"], "as_of": doc["as_of"]}
    for field in fields:
        head, _, rest = field.partition(".")
        if head not in doc:
            continue
        if not rest:
            out[head] = doc[head]
        elif isinstance(doc[head], Mapping) and rest in doc[head]:
            part = out.setdefault(head, {})
            if isinstance(part, dict):
                part[rest] = doc[head][rest]
    return out
