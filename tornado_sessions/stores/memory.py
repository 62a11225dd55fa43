"""The in-process store, ``memory://``: the default, for development and single-process apps.

Records live in an :class:`~collections.OrderedDict` kept in least-recently-used
order, so the store is bounded: past ``max_entries`` the session used longest ago
is evicted (express-session's MemoryStore grows without limit; this one cannot).

Expired records are never returned, and are reclaimed without a timer: writes
sweep, at most once per ``sweep_interval`` seconds, the records whose deadline has
passed, found through a heap of deadlines (stale heap entries, left behind when a
record's expiry moved, are skipped and the heap is rebuilt when they pile up).

The store keeps the immutable :class:`~tornado_sessions.record.Record` objects it is
given, so nothing a handler does to its loaded session can reach another request.

Memory: about 590 bytes per stored session holding ``{"user": 42, "cart": [1, 2,
3]}``, everything included (the 64-character key, the Record, its fields dict, the
serialized bytes, the meta and the heap entry), measured with :mod:`tracemalloc`
over 10,000 sessions (``tests/test_memory_store.py`` keeps it under 1 KiB).  At the
default ``max_entries`` of 10,000, a few megabytes.

Every method completes without waiting, so ``enforces_timeout`` is true: the
core adds no timeout around its calls.  ``touch`` and ``save_changes`` check and
write in one step (nothing can run in between), so they are atomic.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from ..errors import ConfigurationError
from ..record import Changes, OwnedSession, Record, apply_changes
from .base import Store

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """A bounded, least-recently-used session store in this process's memory.

    :param max_entries: sessions kept at most; the least recently used goes first.
    :param sweep_interval: seconds between two sweeps of expired records.
    :param clock: time source (``time.time``), replaceable in tests.
    """

    enforces_timeout = True

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        sweep_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ConfigurationError("MemoryStore max_entries must be at least 1")
        self.max_entries = max_entries
        self.sweep_interval = sweep_interval
        self._clock = clock
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._deadlines: list[tuple[float, str]] = []
        self._next_sweep = 0.0
        #: owner -> the keys of their sessions (kept in step with ``_records``)
        self._owners: dict[str, set[str]] = {}
        #: How many records were dropped to stay within ``max_entries``.
        self.evictions = 0

    def _live(self, key: str, now: float) -> Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        if record.expires_at <= now:
            self._remove(key)
            return None
        return record

    def _remove(self, key: str) -> None:
        record = self._records.pop(key, None)
        if record is not None and record.owner is not None:
            self._unindex(key, record.owner)

    def _unindex(self, key: str, owner: str) -> None:
        keys = self._owners.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._owners[owner]

    def _put(self, key: str, record: Record, now: float) -> None:
        records = self._records
        previous = records.get(key)
        if previous is not None and previous.owner is not None and previous.owner != record.owner:
            self._unindex(key, previous.owner)
        if record.owner is not None:
            self._owners.setdefault(record.owner, set()).add(key)
        records[key] = record
        records.move_to_end(key)
        heapq.heappush(self._deadlines, (record.expires_at, key))
        while len(records) > self.max_entries:
            self._remove(next(iter(records)))
            self.evictions += 1
        if now >= self._next_sweep:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.sweep_interval
        deadlines, records = self._deadlines, self._records
        while deadlines and deadlines[0][0] <= now:
            _, key = heapq.heappop(deadlines)
            record = records.get(key)
            if record is not None and record.expires_at <= now:
                self._remove(key)
        if len(deadlines) > 2 * len(records) + 1024:
            self._deadlines = [(r.expires_at, k) for k, r in records.items()]
            heapq.heapify(self._deadlines)

    async def load(self, key: str) -> Record | None:
        record = self._live(key, self._clock())
        if record is not None:
            self._records.move_to_end(key)
        return record

    async def save(self, key: str, record: Record) -> None:
        self._put(key, record, self._clock())

    async def destroy(self, key: str) -> None:
        self._remove(key)

    async def touch(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        record = self._live(key, now)
        if record is None:
            return False
        self._put(key, Record(record.fields, record.meta, expires_at, record.owner), now)
        return True

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        now = self._clock()
        record = self._live(key, now)
        if record is None:
            return False
        fields = apply_changes(record.fields, changes)
        self._put(key, Record(fields, meta, expires_at, changes.owner), now)
        return True

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        now = self._clock()
        found = []
        for key in list(self._owners.get(owner, ())):
            record = self._live(key, now)
            if record is not None:
                found.append(OwnedSession(key, record.meta, record.expires_at))
        return found

    async def purge_expired(self) -> int:
        before = len(self._records)
        self._next_sweep = 0.0
        self._sweep(self._clock())
        return before - len(self._records)

    async def clear(self) -> None:
        self._records.clear()
        self._deadlines.clear()
        self._owners.clear()

    async def count(self) -> int:
        self._sweep(self._clock())
        return len(self._records)

    async def keys(self) -> AsyncIterator[str]:
        now = self._clock()
        for key, record in list(self._records.items()):
            if record.expires_at > now:
                yield key
