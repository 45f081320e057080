"""Identity resolution on Redis Cluster (docs/cluster.md, S9 and S10), where no call may span
slots.

On one Redis a plan's links and merges are one atomic call (streams/store/identity.py,
``APPLY``), and so is the erasure of a person (``FORGET``). On a cluster the identifiers' keys
(``idn:{kind:value}``) and each profile's keys (``pn/pm/mv/pa/p2/tq/ts:{profile}``) are in slots
of their own, so the same end state is reached in single-slot steps, made safe by three things:

**Locks** (locks.py): a plan locks every person it touches before it reads again
(``pl:{<profile or kind:value>}``), waits for a lock another holds with nothing held, and makes
the single Redis's compare-and-set again under them: a stale plan is refused whole.

**A journal** (journal.py): the plan's writes, computed under the locks as single-slot
operations (plan.py), are kept on the survivor's slot (``pj:{survivor}``), with a pointer to it
under every other lock's name, before the first one is made; the next apply or forget that
locks any name of it finishes it after a crash.

**Steps in a safe order** (each a stage, :meth:`ClusterIdentity.apply_steps`); every identifier
always names a person whose hash lists it, so a reader (``IdentityStore.persons``, which takes
no lock) always sees whole persons:

1. ``person``: the survivor's hash gets the new identifier (link) or every identifier of the
   absorbed person (merge), and, for a profile that was nobody's person yet, its own.
2. ``identifiers``: each of those identifiers names the survivor (``SET idn:{ident}``).
3. (merge) ``handed over``: one script on the absorbed profile's slot moves its stored state into
   a hand-over there (``pa:{absorbed}``), deletes it and marks it moved, at once: its owner's
   next write is refused and forwarded (streams/store/profile_lua.py) to the survivor, which
   the identifiers already name; it also reads the hand-overs, pending triggers and sent
   history to move. ``moved``: the hand-overs join the survivor's, the absorbed profile's due
   members leave its shard of the trigger due index (before the pending hash that names them
   goes), its sent history joins the survivor's (``HSETNX``), the merge history is the
   survivor's with the absorbed one's and this merge after it. ``absorbed keys deleted``: the
   absorbed profile's person, hand-overs, pending triggers, sent history and merge history.
4. ``audit``: each step's ``profile.changes`` message on the outbox (at-least-once: a crash
   before the stage is marked done sends again, consumers dedupe by ``change_id``).

Then the pointers go, the journal, and the locks. Every stage is safe to run again (the
``moved`` stage re-reads what it moves; a hand-over moved twice is folded once:
``State.absorbed``). An apply with nothing to change looks for a journal under its names too
(one round trip) and finishes it before answering. A forget (S10) is the same machinery under
the person's lock and the forgotten profile's: the person's identifiers and their moved markers
are deleted where they still name it, then its hash, history and hand-overs; its journal goes
before its pointer (on the profile forgotten: forgetting it again finds the journal).

Cost: a merge is about 20 round trips instead of one call (the locks one by one, a look for
journals, a read, the pointers, the journal, four stages of one to three round trips, each
marked done, the clean-up).

The modules, each importing only those before it: ``lua`` (the scripts), ``plan`` (pure: the
journal's form, an apply's journal, the locks a plan takes, the compare-and-set), ``calls``
(keys, scripts registered, one pipeline), ``locks`` (take, wait, let go), ``journal`` (write,
run, advance, clear, resume) and ``service`` (:class:`ClusterIdentity`: apply and forget).
"""

from __future__ import annotations

from streams.store.identity_cluster.locks import LOCK_TTL_MS, LockLost, Session
from streams.store.identity_cluster.service import ClusterIdentity, Outcome

__all__ = ["LOCK_TTL_MS", "ClusterIdentity", "LockLost", "Outcome", "Session"]
