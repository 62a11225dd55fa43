"""The store contract: what a session backend implements, and what the core relies on.

A store maps an opaque *store key* (an ASCII string of at most 128 characters that
the core derives from the session id) to a :class:`~tornado_sessions.record.Record`.
It knows nothing of cookies, ids, serialization or the request: it sees keys and
bytes.  That keeps a new backend to an afternoon's work.

Three methods are required:

=================================  ==========================================================
``await load(key)``                the record, or ``None`` if absent *or expired*; raises
                                   :class:`~tornado_sessions.errors.CorruptRecordError` when
                                   the key holds something that is not a record it wrote
``await save(key, record)``        create or replace the whole record (the core uses it for
                                   sessions that were never stored, and after ``regenerate``)
``await destroy(key)``             delete; deleting a missing key is not an error
=================================  ==========================================================

Two writes are *conditional*: they change a record only if it exists and has not
expired, and report whether it did.  The core uses them for every write to a
session that is already stored, so a session destroyed by one request (a logout)
is never brought back by another that was still running:

=============================================================  ===============================
``await touch(key, expires_at) -> bool``                       move the expiry only
``await save_changes(key, changes, meta, expires_at) -> bool``  apply a delta, replace meta
                                                               and the expiry
=============================================================  ===============================

This base class implements both from ``load`` and ``save`` (read, check, write).
That is correct one request at a time but not atomic: between the read and the
write another request may destroy the record (which the write then brings back)
or change other keys (which the write then reverts).  A store whose backend can do
the check and the write in one step overrides them; its ``capabilities`` then name
them, and the core logs a warning at start-up for a store that does not.

Optional methods (``capabilities`` names those a store class overrides):

- ``await open()``: connect, create indexes or tables.  The core awaits it once,
  before the store's first use (in ``open_sessions(app)``); do not connect in
  ``__init__`` or the URL factory, which run before the event loop serves requests.
- ``await close()``: release connections and stop background tasks; idempotent.
- ``await purge_expired() -> int``: delete expired records, returning how many, for
  backends without native expiry (SQL tables, files).  Nobody calls it on a timer
  unless the store starts one itself; the command line's ``purge`` calls it.
- ``await owner_sessions(owner) -> list[OwnedSession]``: the live sessions whose
  record carries ``owner`` (``Record.owner`` at ``save``, ``Changes.owner`` at
  ``save_changes``), from an index, at a cost proportional to that owner's sessions,
  never a scan.  Expired sessions are never listed (an index may drop them lazily);
  ``destroy`` removes a session from the index.  Without it, "log out everywhere"
  and ``max_sessions_per_owner`` raise a ``ConfigurationError`` naming the store.
- ``await clear()``, ``await count() -> int``, ``keys() -> AsyncIterator[str]``:
  administration.  ``keys`` is a plain method returning an async iterator (write it
  as an ``async def`` generator); it and ``count`` skip expired records.

Rules every store follows (:class:`tornado_sessions.testing.StoreContract` checks them):

- A record whose ``expires_at`` has passed is never returned, and never touched or
  changed by a conditional write, even if the backend has not reclaimed it yet.
- Expiry is kept to the millisecond or better, and is never later than asked.
- Field names are kept exactly: case, whitespace and any Unicode; values are
  arbitrary bytes.
- An operation on one key never reads or changes another key's record.
- Every method is safe to cancel at any ``await`` (the core's timeout does): the
  store stays usable afterwards.
- No method blocks the event loop on I/O.
- Methods raise whatever the backend raises (the core wraps it in
  :class:`~tornado_sessions.errors.StoreError`, 503 for the request); stores do not
  log and do not retry on their own.
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
        """The record stored under ``key``; ``None`` if absent or expired.

        :raises CorruptRecordError: ``key`` holds something that is not a record.
        """

    @abc.abstractmethod
    async def save(self, key: str, record: Record) -> None:
        """Create or replace the whole record under ``key``.

        A record whose ``expires_at`` has already passed may be written or not, but
        is never returned afterwards.
        """

    @abc.abstractmethod
    async def destroy(self, key: str) -> None:
        """Delete the record under ``key``; a missing key is not an error."""

    # -- conditional writes (fallbacks: read, check, write; not atomic) ----------

    async def touch(self, key: str, expires_at: float) -> bool:
        """Move the expiry of the live record under ``key``; ``False`` (no write) if none."""
        record = await self.load(key)
        if record is None:
            return False
        await self.save(key, Record(record.fields, record.meta, expires_at, record.owner))
        return True

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        """Apply ``changes`` to the live record under ``key`` and replace its meta and expiry.

        ``False`` (and no write) if there is no live record.
        """
        record = await self.load(key)
        if record is None:
            return False
        fields = apply_changes(record.fields, changes)
        await self.save(key, Record(fields, meta, expires_at, changes.owner))
        return True

    # -- optional ---------------------------------------------------------------

    async def open(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Connect and prepare the backend (indexes, tables); awaited once before first use."""

    async def close(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Release connections and stop background tasks.  Idempotent."""

    async def purge_expired(self) -> int:
        """Delete the records whose expiry has passed; return how many were deleted."""
        raise NotImplementedError

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        """The live sessions of ``owner``, from an index (see the module docstring)."""
        raise NotImplementedError

    async def clear(self) -> None:
        """Delete every session this store holds (and nothing else)."""
        raise NotImplementedError

    async def count(self) -> int:
        """How many live (unexpired) sessions the store holds."""
        raise NotImplementedError

    def keys(self) -> AsyncIterator[str]:
        """Iterate over the store keys of live sessions (expired ones skipped)."""
        raise NotImplementedError
