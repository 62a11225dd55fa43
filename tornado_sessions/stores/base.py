"""The store contract: what a session backend implements.

A store maps an opaque *store key* (a fixed-length ASCII string the core derives
from the session id) to a :class:`~tornado_sessions.record.Record`.  It knows
nothing of cookies, ids, serialization or the request; that keeps a new backend
to an afternoon's work.

Four methods are required:

========================  ===========================================================
``load(key)``             the record, or ``None`` if absent *or expired*
``save(key, record)``     create or replace the whole record, expiring at ``record.expires_at``
``destroy(key)``          delete; deleting a missing key is not an error
========================  ===========================================================

and these are optional capabilities.  The core looks at which methods a subclass
overrides (``Store.capabilities``) and falls back when one is missing:

- ``touch(key, expires_at)``: move the expiry only (without it: a whole ``save``);
- ``save_changes(key, changes, meta, expires_at)``: write only the keys a request
  changed (without it: a whole ``save``, and concurrent requests may lose updates);
- ``clear()``, ``count()``, ``keys()``: administration (empty, count, list);
- ``close()``: release connections and background tasks.

Rules every store follows (the contract suite in :mod:`tornado_sessions.testing`
checks each one):

- A record whose ``expires_at`` has passed is never returned, even if the backend
  has not yet reclaimed it.  The core checks expiry again, but a store must not
  rely on that.
- ``touch`` and ``save_changes`` on a missing (or expired) record write nothing
  and return ``False``: a session destroyed by one request is never brought back
  by another that was still running.
- ``save_changes`` applies ``changes.updated`` and ``changes.deleted`` and
  replaces ``meta`` and the expiry, all in one atomic step where the backend
  allows it, so two requests that changed different keys both keep their change.
- Methods raise whatever the backend raises; the core wraps it in
  :class:`~tornado_sessions.errors.StoreError`.  Stores do not log and retry on
  their own.
- Timeouts: the core bounds every call by ``SessionOptions.store_timeout`` with
  :func:`asyncio.timeout`, unless the store sets ``enforces_timeout = True``,
  which it may do when it never waits on I/O (the memory store) or when its
  client is configured with that timeout.  A store that never suspends at all
  may also set ``never_waits = True``: its writes then run without a task.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import ClassVar

from ..record import Changes, Record

__all__ = ["Store"]

_OPTIONAL = ("touch", "save_changes", "clear", "count", "keys", "close")


class Store(abc.ABC):
    """Abstract base class of every session store."""

    #: Set by ``__init_subclass__``: the optional methods this class implements.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    #: ``True`` if calls never hang past ``store_timeout`` without the core's help.
    enforces_timeout: bool = False

    #: ``True`` if no method ever suspends (nothing is awaited that waits on I/O or a
    #: timer), so the core may run writes without a task.  Only the memory store, or
    #: the like, should say so.
    never_waits: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = frozenset(
            name for name in _OPTIONAL if getattr(cls, name) is not getattr(Store, name)
        )

    @abc.abstractmethod
    async def load(self, key: str) -> Record | None:
        """Return the record stored under ``key``, or ``None`` if absent or expired."""

    @abc.abstractmethod
    async def save(self, key: str, record: Record) -> None:
        """Create or replace the whole record under ``key``."""

    @abc.abstractmethod
    async def destroy(self, key: str) -> None:
        """Delete the record under ``key``; a missing key is not an error."""

    async def touch(self, key: str, expires_at: float) -> bool:
        """Move the expiry of an existing record; ``False`` if there was none."""
        raise NotImplementedError

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        """Apply a delta to an existing record; ``False`` (and no write) if there was none."""
        raise NotImplementedError

    async def clear(self) -> None:
        """Delete every session this store holds (and only those)."""
        raise NotImplementedError

    async def count(self) -> int:
        """Number of live sessions (expired ones not yet reclaimed may be excluded)."""
        raise NotImplementedError

    def keys(self) -> AsyncIterator[str]:
        """Iterate over the store keys of live sessions."""
        raise NotImplementedError

    async def close(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Release connections and stop background tasks.  Idempotent."""
