"""The store contract (version 2): what a session backend implements, and what the core relies on.

A store maps an opaque *store key* to a :class:`~tornado_sessions.record.Record`.  It
knows nothing of cookies, ids, serialization or the request: it sees keys and bytes.
That keeps a new backend to an afternoon's work.

What a store is given
=====================

- A *key* is an ASCII string of 1 to 128 characters (``A-Z a-z 0-9 - _``; by
  default the 64 hex digits of a SHA-256).  Keys are case-sensitive: ``k1`` and
  ``K1`` are two sessions.
- A :class:`~tornado_sessions.record.Record` has ``fields`` (``str`` name ->
  ``bytes`` value), ``meta`` (``bytes`` the core owns), ``expires_at`` (Unix time,
  a ``float`` in seconds) and ``owner`` (``str`` or ``None``, for the owner index).
  Field names are any ``str``: case, whitespace, Unicode (unnormalized), empty,
  hundreds of characters; values are any bytes, up to ``max_record_bytes`` (1 MiB).
- A :class:`~tornado_sessions.record.Changes` has ``updated`` (names -> new bytes),
  ``deleted`` (names to remove; absent ones are not an error) and ``owner`` (the
  owner after the write).  A name is never in both ``updated`` and ``deleted``: the
  constructor raises :class:`ValueError`, so a store may apply the two in either
  order.  An empty ``Changes()`` is valid: the write then replaces only the meta,
  the expiry and the owner.

The lifecycle
=============

1. The URL factory, ``factory(url, *, timeout) -> Store``, is synchronous: it
   parses the URL and builds the object.  It does no I/O (it runs inside the
   event loop, where a blocking connect would stall every request).
2. ``await open()`` is awaited once, before the first call, by
   ``open_sessions(app)`` (or the first request): connect, create tables or
   indexes, start background tasks.  It is bounded by ``store_timeout`` like every
   other call, and a failure is a :class:`~tornado_sessions.errors.StoreError`
   at start-up.
3. The calls below, concurrently, from the request path.
4. ``await close()``, from ``close_sessions(app)``; also called for a store whose
   ``open()`` failed or was never awaited.

The methods
===========

Required (abstract)::

    async def load(self, key: str) -> Record | None
    async def save(self, key: str, record: Record) -> None
    async def destroy(self, key: str) -> None

Conditional writes, which change a record only if it is *live* (present and not
expired) and report whether they did.  The core uses them for every write to a
session that is already stored, so a session destroyed by one request (a logout)
is never brought back by another that was still running::

    async def touch(self, key: str, expires_at: float) -> bool
    async def save_changes(self, key: str, changes: Changes, meta: bytes,
                           expires_at: float) -> bool

This base class implements both from ``load`` and ``save`` (read, check, write).
That is correct one request at a time but not atomic: between the read and the
write another request may destroy the record (which the write then brings back)
or change other fields (which the write then reverts).  A store whose backend can
check and write in one step overrides them; ``capabilities`` then names them, and
the core logs a warning at start-up for a store that does not.

Optional (``capabilities`` names those a store class overrides)::

    async def open(self) -> None
    async def close(self) -> None
    async def purge_expired(self) -> int
    async def owner_sessions(self, owner: str) -> list[OwnedSession]
    async def clear(self) -> None
    async def count(self) -> int
    def keys(self) -> AsyncIterator[str]        # a plain def: an async generator

``keys`` is the one method that is not a coroutine function: calling it returns an
async iterator at once (write it as an ``async def`` with ``yield``), and the I/O
happens as it is iterated.  ``purge_expired`` is for backends without native
expiry (SQL tables, files): the core never calls it during requests.  The
application calls it on a schedule (a :class:`tornado.ioloop.PeriodicCallback`),
an operator runs the command line's ``tornado-sessions purge URL`` (from cron, say),
or the store runs its own cleanup task, started in ``open()`` and stopped in
``close()``.  Each method's docstring below gives its exact return value and
errors.

Rules every store follows
=========================

:class:`tornado_sessions.testing.StoreContract` checks each one.

- Expired means gone: a record whose ``expires_at`` has passed is never returned
  by ``load``, ``owner_sessions``, ``count`` or ``keys``, and ``touch`` and
  ``save_changes`` never apply to it (they return ``False`` and write nothing),
  even while the backend still holds it.
- Expiry is kept to the millisecond: ``load`` returns the ``expires_at`` it was
  given to within a millisecond (the suite allows two, one of rounding on write and
  one on read, plus the calls' own duration for a TTL relative to the server's
  clock).  Whole seconds are not enough.
- Field names are kept exactly (no case folding, trimming or Unicode
  normalization) and values byte for byte.
- An operation on one key never reads or changes another key's record.
- Every method is safe to cancel at any ``await`` (the core's ``store_timeout``
  does): the cancelled call's write happens entirely or not at all, the
  ``CancelledError`` propagates, and the store keeps working (no connection left
  inside a transaction, no lock left held).
- No method blocks the event loop: no step of a call holds it for more than a few
  milliseconds (the suite's limit is 5 ms).  Use an asyncio driver, or run
  blocking calls in a thread (:func:`asyncio.to_thread`).
- Errors: methods raise whatever the backend raises (the core wraps it in
  :class:`~tornado_sessions.errors.StoreError`, a 503 for the request).  Stores do
  not log, swallow or retry.  The one error a store raises itself is
  :class:`~tornado_sessions.errors.CorruptRecordError`, from ``load``, when the key
  holds something that is not a record it wrote.
- Timeouts: the core bounds every call by ``SessionOptions.store_timeout`` unless
  the store sets ``enforces_timeout = True`` (it bounds its own calls, or never
  waits at all, as the memory store).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import ClassVar

from ..record import Changes, OwnedSession, Record, apply_changes

__all__ = ["OPTIONAL_METHODS", "Store"]

#: Methods a store may override; ``Store.capabilities`` names those it does.
OPTIONAL_METHODS = (
    "open",
    "close",
    "touch",
    "save_changes",
    "purge_expired",
    "owner_sessions",
    "clear",
    "count",
    "keys",
)


class Store(abc.ABC):
    """Abstract base class of every session store; see the module docstring."""

    #: Set by ``__init_subclass__``: the optional methods this class overrides.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    #: ``True`` if the store bounds every call itself (or never waits), so the core
    #: adds no timeout of its own.
    enforces_timeout: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = frozenset(
            name for name in OPTIONAL_METHODS if getattr(cls, name) is not getattr(Store, name)
        )

    @property
    def atomic_conditional_writes(self) -> bool:
        """Whether ``touch`` and ``save_changes`` check and write in one atomic step."""
        return {"touch", "save_changes"} <= self.capabilities

    # -- required ---------------------------------------------------------------

    @abc.abstractmethod
    async def load(self, key: str) -> Record | None:
        """The live record stored under ``key``.

        :returns: the :class:`Record` as last written (its ``owner`` may be ``None``:
            the core reads the owner from the meta), or ``None`` if ``key`` holds
            nothing or a record whose ``expires_at`` has passed.  An expired record
            may be deleted on the way; it is never returned.
        :raises CorruptRecordError: ``key`` holds something that is not a record
            this store wrote (the core deletes it and starts a fresh session).
        :raises Exception: whatever the backend raises.
        """

    @abc.abstractmethod
    async def save(self, key: str, record: Record) -> None:
        """Create or replace the whole record under ``key``, expiring at ``record.expires_at``.

        Unconditional: it writes whether or not a record exists (the core uses it
        for sessions never stored before, and after ``regenerate()``).  Fields of
        a previous record that ``record`` does not have are gone afterwards.  A
        record whose ``expires_at`` has already passed may be written (it is then
        *expired but present*) or not (``save`` deletes the key instead), but is
        never returned afterwards.  A store with ``owner_sessions`` indexes
        ``record.owner`` (``None``: in no owner's list).

        :returns: ``None``.
        :raises Exception: whatever the backend raises.
        """

    @abc.abstractmethod
    async def destroy(self, key: str) -> None:
        """Delete the record under ``key``, and its entry in the owner index.

        :returns: ``None``; deleting a missing or expired key is not an error.
        :raises Exception: whatever the backend raises.
        """

    # -- conditional writes (fallbacks: read, check, write; not atomic) ----------

    async def touch(self, key: str, expires_at: float) -> bool:
        """Move the expiry of the live record under ``key`` to ``expires_at``.

        Fields, meta and owner stay as they are.  ``expires_at`` may be in the
        past: the record then expires.

        :returns: ``True`` if a live record was there (and now has the new
            expiry); ``False``, writing nothing, if the key holds nothing or an
            expired record.
        :raises Exception: whatever the backend raises.
        """
        record = await self.load(key)
        if record is None:
            return False
        await self.save(key, Record(record.fields, record.meta, expires_at, record.owner))
        return True

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        """Apply ``changes`` to the live record under ``key``, replacing meta, expiry and owner.

        In one step: set each name of ``changes.updated`` to its bytes, remove each
        name of ``changes.deleted`` (absent ones are ignored), keep every other
        field, store ``meta`` and ``expires_at``, and index ``changes.owner``.  No
        name is in both ``updated`` and ``deleted`` (:class:`Changes` refuses it),
        so the order of the two does not matter.  Empty ``changes`` still replace
        the meta, the expiry and the owner.

        :returns: ``True`` if a live record was there (and is now changed);
            ``False``, writing nothing, if the key holds nothing or an expired
            record.
        :raises Exception: whatever the backend raises.
        """
        record = await self.load(key)
        if record is None:
            return False
        fields = apply_changes(record.fields, changes)
        await self.save(key, Record(fields, meta, expires_at, changes.owner))
        return True

    # -- optional ---------------------------------------------------------------

    async def open(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Connect and prepare the backend (tables, indexes, background tasks).

        Awaited once, before any other call, by ``open_sessions(app)`` or the
        first request, inside the running loop and bounded by ``store_timeout``.
        The default does nothing (a client that connects lazily needs nothing).

        :returns: ``None``.
        :raises Exception: whatever the backend raises; the application then
            fails to start with a :class:`~tornado_sessions.errors.StoreError`.
        """

    async def close(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Release connections and stop background tasks.

        Idempotent, and safe on a store whose ``open()`` was never awaited or
        failed.  The default does nothing.

        :returns: ``None``.
        :raises Exception: whatever the backend raises.
        """

    async def purge_expired(self) -> int:
        """Delete the records whose ``expires_at`` has passed, and nothing else.

        For backends without native expiry; the core never calls it during
        requests (see the module docstring for who does).

        :returns: how many records it deleted (0 when there were none).
        :raises Exception: whatever the backend raises.
        """
        raise NotImplementedError

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        """The live sessions whose record carries ``owner``, from an index.

        ``owner`` is compared exactly (case-sensitive).  The owner of a session is
        ``Record.owner`` at its last ``save`` or ``Changes.owner`` at its last
        ``save_changes``; ``touch`` keeps it; ``destroy`` removes the session from
        the index.  The cost is proportional to that owner's sessions, never a
        scan of the store.

        :returns: one :class:`OwnedSession` (key, meta, expires_at) per live
            session, in no particular order; expired sessions are never listed
            (an index may drop them lazily); ``[]`` for an unknown owner.
        :raises Exception: whatever the backend raises.
        """
        raise NotImplementedError

    async def clear(self) -> None:
        """Delete every session this store holds, live or expired, and nothing else.

        :returns: ``None``.
        :raises Exception: whatever the backend raises.
        """
        raise NotImplementedError

    async def count(self) -> int:
        """How many live sessions the store holds (expired ones not counted).

        :returns: the number of keys :meth:`keys` would yield.
        :raises Exception: whatever the backend raises.
        """
        raise NotImplementedError

    def keys(self) -> AsyncIterator[str]:
        """The store keys of live sessions, each once, in no particular order.

        A plain method (not a coroutine function): it returns an async iterator
        at once, and the I/O happens as it is iterated; write it as an
        ``async def`` generator.  Expired records are skipped; keys saved or
        destroyed during the iteration may or may not appear.  A caller may stop
        early (``aclose()``), leaving the store usable.

        :returns: an async iterator of ``str`` keys.
        :raises Exception: (while iterating) whatever the backend raises.
        """
        raise NotImplementedError
