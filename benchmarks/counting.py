"""``CountingStore``: a store wrapper that counts what the core asks of the real store.

It delegates every call to the wrapped store and records, per operation kind
(``load``, ``save``, ``save_changes``, ``touch``, ``destroy``), how many calls
were made, how long the wrapped store took, and how many payload bytes each
write carried:

- ``save``: the whole record (:meth:`~tornado_sessions.Record.size`: keys, values, meta);
- ``save_changes``: the changed keys and their values, the deleted keys' names, and meta;
- ``touch`` and ``destroy``: no payload (they move an expiry or drop a key).

The wrapper exposes the wrapped store's ``capabilities`` and ``enforces_timeout``,
so the core takes exactly the code paths it takes with the real store (a store
without ``touch`` still gets whole-record saves in place of touches).
``Store.capabilities`` is computed per class from the overridden methods, and this
class overrides them all, so the wrapped store's set is put on the instance.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from tornado_sessions import Changes, MemoryStore, Record, Store

__all__ = ["EXPIRY_BYTES", "OPERATIONS", "CountingStore", "wrapper_overhead_us"]

#: The store operations that are counted, in report order.
OPERATIONS: tuple[str, ...] = ("load", "save", "save_changes", "touch", "destroy")

#: Bytes an expiry counts for in ``bytes_written``.
EXPIRY_BYTES = 8


class CountingStore(Store):
    """Delegates to ``inner`` and counts calls, seconds and bytes written per operation."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        # An instance attribute shadows the class-level set computed for this class.
        self.__dict__["capabilities"] = inner.capabilities
        self.enforces_timeout = inner.enforces_timeout
        self.calls: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        self.seconds: dict[str, float] = dict.fromkeys(OPERATIONS, 0.0)
        self.bytes_written = 0
        self._opened = False

    def snapshot(self) -> dict[str, object]:
        """The counters so far, as plain data."""
        return {
            "calls": dict(self.calls),
            "seconds": dict(self.seconds),
            "bytes_written": self.bytes_written,
        }

    def _done(self, operation: str, started: float) -> None:
        self.calls[operation] += 1
        self.seconds[operation] += time.perf_counter() - started

    async def load(self, key: str) -> Record | None:
        started = time.perf_counter()
        try:
            return await self.inner.load(key)
        finally:
            self._done("load", started)

    async def save(self, key: str, record: Record) -> None:
        started = time.perf_counter()
        try:
            await self.inner.save(key, record)
            self.bytes_written += record.size() + EXPIRY_BYTES
        finally:
            self._done("save", started)

    async def destroy(self, key: str) -> None:
        started = time.perf_counter()
        try:
            await self.inner.destroy(key)
        finally:
            self._done("destroy", started)

    async def touch(self, key: str, expires_at: float) -> bool:
        started = time.perf_counter()
        try:
            touched = await self.inner.touch(key, expires_at)
            if touched:
                self.bytes_written += EXPIRY_BYTES
            return touched
        finally:
            self._done("touch", started)

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        started = time.perf_counter()
        try:
            applied = await self.inner.save_changes(key, changes, meta, expires_at)
            if applied:
                self.bytes_written += (
                    len(meta)
                    + EXPIRY_BYTES
                    + sum(len(name) + len(value) for name, value in changes.updated.items())
                    + sum(len(name) for name in changes.deleted)
                )
            return applied
        finally:
            self._done("save_changes", started)

    async def open(self) -> None:
        # Once: the benchmark server opens the store before the core does (its floor
        # needs the connection), and a store's open() is awaited once.
        if not self._opened:
            self._opened = True
            await self.inner.open()

    async def clear(self) -> None:
        await self.inner.clear()

    async def count(self) -> int:
        return await self.inner.count()

    def keys(self) -> AsyncIterator[str]:
        return self.inner.keys()

    async def close(self) -> None:
        await self.inner.close()


def wrapper_overhead_us(calls: int = 20_000) -> float:
    """Microseconds the wrapper adds to one call (a memory-store ``load``, best of 5)."""

    async def timed(store: Store, key: str) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await store.load(key)
        return time.perf_counter() - started

    async def compare() -> float:
        inner = MemoryStore()
        key = "0" * 64
        await inner.save(key, Record({"a": b"1"}, b"m", time.time() + 600))
        wrapped = CountingStore(inner)
        plain = min([await timed(inner, key) for _ in range(5)])
        counted = min([await timed(wrapped, key) for _ in range(5)])
        return max(0.0, counted - plain) / calls * 1e6

    return asyncio.run(compare())
