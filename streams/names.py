"""The one place for topic names and the Redis key scheme (:class:`Keys`)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

# --- Kafka topics -----------------------------------------------------------------------------
TOPIC_EVENTS: Final = "events"
TOPIC_DLQ: Final = "events.dlq"
TOPIC_PROFILE_CHANGES: Final = "profile.changes"
TOPIC_CAMPAIGNS: Final = "campaigns"  # campaign requests (streams/campaigns/planner.py)
TOPIC_CAMPAIGNS_DLQ: Final = "campaigns.dlq"
TOPIC_FEEDBACK: Final = "feedback"  # delivered / opened / clicked / converted, by trigger_id
TOPIC_FEEDBACK_DLQ: Final = "feedback.dlq"
# Trigger output topics are configurable (triggers.topics; defaults in triggers/config.py).

# A Kafka header on replayed history (`portrait replay --via kafka`): applied, never triggering.
REPLAY_HEADER: Final = "portrait-replay"
# Its value when the replay asked for its rule transitions on profile.changes (docs/replay.md).
EMIT_CHANGES: Final = b"emit-changes"

CONSUMER_GROUP: Final = "portrait-worker"
CAMPAIGN_GROUP: Final = "portrait-campaigns"
FEEDBACK_GROUP: Final = "portrait-feedback"

# --- Redis keys -------------------------------------------------------------------------------
# One rule: ``<namespace>portrait:<kind>`` for a deployment-wide key and
# ``<namespace>portrait:<kind>:{<user_id>}`` for a user's, where the namespace is the
# deployment's ``topics.prefix`` (as for its topics and consumer groups), so deployments sharing
# a Redis never meet. docs/operations.md "Key scheme and migration" maps the older names.
KEY_ROOT: Final = "portrait"
SCHEMA_VERSION: Final = 2  # v1 kept a JSON state in a hash under portrait:p:; replay to migrate
DUE_SEPARATOR: Final = "\x1f"
DUE_SHARDS: Final = 16  # keys of a sharded index on Redis Cluster (sharded(), Keys.due_for)

# Per-user kinds. A string for the profile, not a hash: a hash whose state field passes 64 bytes
# leaves the compact listpack encoding and costs ~270 bytes per user against ~60 for a string.
PROFILE: Final = "p2"  # profile state, led by its write fences (profiles/codec.py)
PENDING: Final = "tq"  # hash slot -> encoded Trigger: pending triggers
SENT: Final = "ts"  # hash trigger_id -> "channel|kind|sent_ms": dedupe, caps, attribution
SENSITIVITY: Final = "tr"  # hash "<channel or offer>:<status>" -> count
FEEDBACK_SEEN: Final = "tf"  # hash "<trigger_id>|<status>" -> at: each feedback counted once
RECALL: Final = "trc"  # hash of the user's win-backs awaiting a return
# hash: an erasure on its way ("pending": its id), a suppression ("suppressed": since), the
# tombstone fence ("fence": "partition:offset") that keeps an older write from bringing an erased
# profile back (streams/privacy, docs/privacy.md)
PRIVACY: Final = "gdpr"
# hash: per experiment the user's arm ("<experiment>" -> "arm|exposed_ms|baseline") and counts
# ("<experiment>|sent:<channel>", "<experiment>|<feedback status>") (docs/experiments.md)
EXPERIMENT: Final = "tx"
# list of JSON entries: the shared writes (member sets, outbox, due index) a profile write made
# on Redis Cluster implies, until they are made (streams/store/follow_up.py); usually absent
FOLLOW_UP: Final = "rd"
USER_KINDS: Final = (  # the kinds older releases named otherwise (streams/store/migrate.py)
    PROFILE, PENDING, SENT, SENSITIVITY, FEEDBACK_SEEN, RECALL, PRIVACY, EXPERIMENT,
)  # fmt: skip
# Identity (docs/identity.md). IDENTIFIER keys are tagged by an identifier ("kind:value"), the
# others by a profile key, as the per-user kinds above.
IDENTIFIER: Final = "idn"  # string: the canonical identifier of the identifier's person
PERSON: Final = "pn"  # hash identifier -> linked at (ms), under the canonical profile
MERGES: Final = "pm"  # list of the person's merge records (JSON), under the canonical profile
MOVED: Final = "mv"  # string: the profile an absorbed profile was merged into
ABSORBING: Final = "pa"  # hash absorbed profile -> its state, until the survivor's next write
# On Redis Cluster (streams/store/identity_cluster): tagged by a lock's name, a person's
# canonical profile or an identifier of no person (its profile, or its text if it only links).
LOCK: Final = "pl"  # string: the token of the apply or forget holding the name (a person) now
JOURNAL: Final = "pj"  # hash: a change's journal on its owner, or a pointer to it elsewhere
IDENTITY_KINDS: Final = (IDENTIFIER, PERSON, MERGES, MOVED, ABSORBING, LOCK, JOURNAL)


@dataclass(frozen=True, slots=True)
class Keys:
    """Every Redis key of one deployment. All of one user's keys share the hash tag
    ``{user_id}`` so that they live in one Redis Cluster slot (DESIGN.md invariant 8) and one
    Lua call may touch them together."""

    namespace: str = ""

    def user(self, kind: str, user_id: str) -> str:
        return f"{self.namespace}{KEY_ROOT}:{kind}:{{{user_id}}}"

    def user_prefix(self, kind: str) -> str:
        """What precedes ``{user_id}`` in a ``kind`` key (for Lua scripts that build the key of
        a user they read from another key)."""
        return f"{self.namespace}{KEY_ROOT}:{kind}:"

    def shared(self, kind: str) -> str:
        return f"{self.namespace}{KEY_ROOT}:{kind}"

    def profile(self, user_id: str) -> str:
        return self.user(PROFILE, user_id)

    def pending(self, user_id: str) -> str:
        return self.user(PENDING, user_id)

    def sent(self, user_id: str) -> str:
        return self.user(SENT, user_id)

    def sensitivity(self, user_id: str) -> str:
        return self.user(SENSITIVITY, user_id)

    def feedback_seen(self, user_id: str) -> str:
        return self.user(FEEDBACK_SEEN, user_id)

    def recall(self, user_id: str) -> str:
        return self.user(RECALL, user_id)

    def privacy(self, user_id: str) -> str:
        return self.user(PRIVACY, user_id)

    def experiment(self, user_id: str) -> str:
        """The user's experiment arms and their counts."""
        return self.user(EXPERIMENT, user_id)

    def follow_up(self, user_id: str) -> str:
        """The shared writes a cluster profile write left to make (streams/store/follow_up.py)."""
        return self.user(FOLLOW_UP, user_id)

    def identifier(self, text: str) -> str:
        """The person of an identifier (``kind:value``, profiles/identity.py)."""
        return self.user(IDENTIFIER, text)

    def person(self, profile: str) -> str:
        return self.user(PERSON, profile)

    def merges(self, profile: str) -> str:
        return self.user(MERGES, profile)

    def moved(self, profile: str) -> str:
        return self.user(MOVED, profile)

    def absorbing(self, profile: str) -> str:
        return self.user(ABSORBING, profile)

    @property
    def privacy_audit(self) -> str:
        """Stream of audited erasures and exports: who, when, which user (docs/privacy.md)."""
        return self.shared("gdpr:audit")

    @property
    def due(self) -> str:
        """Sorted set of every pending trigger's due time (member: :func:`due_member`), on one
        Redis (on a cluster: :meth:`due_for`)."""
        return self.shared("tdue")

    def due_for(self, user_id: str, cluster: bool) -> str:
        """The trigger due index key holding ``user_id``'s entries: :attr:`due` on one Redis; on
        Redis Cluster one of :data:`DUE_SHARDS` keys (``tdue:{n}``, n by a hash of the user id),
        so that the index, which every schedule, claim and finish goes through, spreads over
        the primaries instead of loading one (docs/cluster.md)."""
        return sharded(self.due, user_id, cluster)

    def due_all(self, cluster: bool) -> list[str]:
        """Every key of the trigger due index (the scheduler claims from each)."""
        return shards(self.due, cluster)

    @property
    def recall_index(self) -> str:
        """Sorted set user id -> latest deadline of a pending recall (streams/feedback)."""
        return self.shared("trecall")

    @property
    def recall_ledger(self) -> str:
        """Sorted set ``<trigger_id>|<user id>`` -> send time of every recall message (the
        recall report's list, streams/store/feedback.py)."""
        return self.shared("trl")

    def experiment_ledger(self, experiment: str) -> str:
        """Sorted set user id -> exposure time (ms) of everyone an experiment assigned: the
        report's list of users (their arms are in each user's :meth:`experiment` hash)."""
        return self.shared(f"tx:l:{experiment}")

    def segment_members(self, segment: str) -> str:
        """Set of a segment's members (user ids), kept exact by the fenced write: its size is
        SCARD, its export SSCAN. Adds and removes are idempotent, so a retried write is too."""
        return self.shared(f"seg:m:{segment}")

    def segment_pattern(self) -> str:
        """A SCAN pattern of every segment's member set (segments of older rules included)."""
        return self.shared("seg:m:*")

    def changes_outbox(self, partition: int | str) -> str:
        """Stream of ``profile.changes`` messages per partition of the events topic, written
        with the state that caused them and deleted once published by the partition's owner
        (an outbox: a crash between the write and the publication loses nothing)."""
        return self.shared(f"seg:outbox:{partition}")

    def rules_due(self, partition: int | str) -> str:
        """Sorted set user id -> the next moment a rule can flip by time alone, per partition
        of the events topic (only the partition's owner evaluates its users)."""
        return self.shared(f"seg:due:{partition}")

    def rules_dirty(self, partition: int | str) -> str:
        """Set of the users of a partition whose cluster profile write may still have shared
        writes to make (their :meth:`follow_up` lists): the owner sweeps it."""
        return self.shared(f"seg:dirty:{partition}")

    @property
    def rules_versions(self) -> str:
        """Hash partition -> the rules version every profile of that partition was last
        re-evaluated under (a worker starting with other rules re-evaluates the rest)."""
        return self.shared("seg:version")

    @property
    def rules_audit(self) -> str:
        """Stream of audited rule operations (manual tagging, rule reloads, re-evaluations)."""
        return self.shared("seg:audit")

    @property
    def census(self) -> str:
        return self.shared("ops:census")

    @property
    def census_lock(self) -> str:
        return self.shared("ops:census:lock")

    def user_pattern(self, kind: str, user_glob: str = "*") -> str:
        """A SCAN pattern of the ``kind`` keys whose user id matches ``user_glob`` (the
        namespace needs no escaping: it is a topic prefix, ``[a-zA-Z0-9._-]``)."""
        return self.user(kind, user_glob)


def sharded(key: str, user_id: str, cluster: bool) -> str:
    """The shard of a deployment-wide ``key`` (an index over users) that holds ``user_id``: the
    key itself on one Redis; on Redis Cluster ``<key>:{n}``, n = crc32(user id) mod
    :data:`DUE_SHARDS`, so that an index every user's writes go through spreads over the
    primaries (the hash tag ``{n}``: shard n of every index shares a slot)."""
    if not cluster:
        return key
    return f"{key}:{{{zlib.crc32(user_id.encode()) % DUE_SHARDS}}}"


def shards(key: str, cluster: bool) -> list[str]:
    """Every shard of ``key`` (:func:`sharded`): readers of the whole index go through each."""
    return [f"{key}:{{{n}}}" for n in range(DUE_SHARDS)] if cluster else [key]


def user_id_from_key(key: str) -> str:
    """The user id of a per-user key (between its hash-tag braces)."""
    return key[key.index("{") + 1 : key.rindex("}")]


def due_member(slot: str, user_id: str) -> str:
    return f"{slot}{DUE_SEPARATOR}{user_id}"


def parse_due_member(member: str) -> tuple[str, str]:
    slot, _, user_id = member.partition(DUE_SEPARATOR)
    return slot, user_id
