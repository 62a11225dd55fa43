"""The store contract suite: the tests every store must pass, reusable by plugins.

A store plugin proves itself with a few lines in its own tests::

    import pytest
    from tornado_sessions.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture(autouse=True)
        def _server(self, my_server_url):       # any fixture of yours
            self.url = my_server_url

        async def create_store(self):
            store = MyStore.from_url(self.url, timeout=2.0)
            await store.clear()                   # each test starts empty
            return store

Each test runs on its own IOLoop (pytest-tornado's ``gen_test``), creates its
store with :meth:`StoreContract.create_store` inside that loop and closes it at
the end.  Tests of an optional capability the store lacks are skipped with the
capability named; a store that implements the method must pass them.

The suite needs ``pytest`` and ``pytest-tornado``; it is imported only by tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from ..record import Changes, Record
from ..stores.base import Store

__all__ = ["StoreContract", "record"]

# Stores may keep expiry at millisecond or second resolution.
EXPIRY_TOLERANCE = 1.5


def record(
    fields: dict[str, bytes] | None = None, *, ttl: float = 600.0, meta: bytes = b"m"
) -> Record:
    """A record expiring ``ttl`` seconds from now."""
    return Record(dict({"a": b"1"} if fields is None else fields), meta, time.time() + ttl)


class StoreContract:
    """Mix into a test class and implement :meth:`create_store`."""

    async def create_store(self) -> Store:
        """Return a connected, empty store.  Called once per test, inside its loop."""
        raise NotImplementedError

    @asynccontextmanager
    async def _store(self, *needs: str) -> AsyncIterator[Store]:
        store = await self.create_store()
        missing = [name for name in needs if name not in store.capabilities]
        try:
            if missing:
                pytest.skip(f"{type(store).__name__} does not implement {', '.join(missing)}")
            yield store
        finally:
            await store.close()

    # -- required ---------------------------------------------------------------

    @pytest.mark.gen_test
    async def test_load_missing_returns_none(self) -> None:
        async with self._store() as store:
            assert await store.load("missing-key") is None

    @pytest.mark.gen_test
    async def test_save_then_load_round_trips(self) -> None:
        async with self._store() as store:
            saved = record({"user": b"\x01\x02", "cart": b"\x93\x01\x02\x03"}, meta=b"\x00meta")
            await store.save("k1", saved)
            loaded = await store.load("k1")
            assert loaded is not None
            assert dict(loaded.fields) == dict(saved.fields)
            assert loaded.meta == saved.meta
            assert abs(loaded.expires_at - saved.expires_at) < EXPIRY_TOLERANCE

    @pytest.mark.gen_test
    async def test_save_replaces_the_whole_record(self) -> None:
        async with self._store() as store:
            await store.save("k1", record({"a": b"1", "b": b"2"}))
            await store.save("k1", record({"c": b"3"}, meta=b"new"))
            loaded = await store.load("k1")
            assert loaded is not None
            assert dict(loaded.fields) == {"c": b"3"}
            assert loaded.meta == b"new"

    @pytest.mark.gen_test
    async def test_empty_record_round_trips(self) -> None:
        async with self._store() as store:
            await store.save("k1", Record({}, b"m", time.time() + 600))
            loaded = await store.load("k1")
            assert loaded is not None and dict(loaded.fields) == {}

    @pytest.mark.gen_test
    async def test_keys_are_independent(self) -> None:
        async with self._store() as store:
            await store.save("k1", record({"a": b"one"}))
            await store.save("k2", record({"a": b"two"}))
            await store.destroy("k1")
            assert await store.load("k1") is None
            other = await store.load("k2")
            assert other is not None and other.fields["a"] == b"two"

    @pytest.mark.gen_test
    async def test_destroy_removes_and_tolerates_missing(self) -> None:
        async with self._store() as store:
            await store.save("k1", record())
            await store.destroy("k1")
            assert await store.load("k1") is None
            await store.destroy("k1")
            await store.destroy("never-existed")

    @pytest.mark.gen_test
    async def test_expired_record_is_never_returned(self) -> None:
        async with self._store() as store:
            await store.save("k1", record(ttl=-5.0))
            assert await store.load("k1") is None

    @pytest.mark.gen_test
    async def test_field_names_and_values_are_binary_safe(self) -> None:
        async with self._store() as store:
            fields = {
                "a.b": b"dot",
                "$set": b"dollar",
                "x$.y": b"both",
                "ünï ćødé": "ünï".encode(),
                "empty": b"",
                "nul": b"\x00\xff\x00",
                "": b"empty name",
                "%": b"percent",
            }
            await store.save("k1", record(fields))
            loaded = await store.load("k1")
            assert loaded is not None and dict(loaded.fields) == fields

    @pytest.mark.gen_test
    async def test_large_record_round_trips(self) -> None:
        async with self._store() as store:
            big = bytes(range(256)) * 256  # 64 KiB
            await store.save("k1", record({"big": big, "small": b"s"}))
            loaded = await store.load("k1")
            assert loaded is not None and loaded.fields["big"] == big

    # -- touch ------------------------------------------------------------------

    @pytest.mark.gen_test
    async def test_touch_moves_only_the_expiry(self) -> None:
        async with self._store("touch") as store:
            saved = record({"a": b"1"}, ttl=60, meta=b"meta")
            await store.save("k1", saved)
            later = time.time() + 3600
            assert await store.touch("k1", later) is True
            loaded = await store.load("k1")
            assert loaded is not None
            assert abs(loaded.expires_at - later) < EXPIRY_TOLERANCE
            assert dict(loaded.fields) == {"a": b"1"} and loaded.meta == b"meta"

    @pytest.mark.gen_test
    async def test_touch_into_the_past_expires(self) -> None:
        async with self._store("touch") as store:
            await store.save("k1", record())
            await store.touch("k1", time.time() - 5)
            assert await store.load("k1") is None

    @pytest.mark.gen_test
    async def test_touch_of_missing_record_creates_nothing(self) -> None:
        async with self._store("touch") as store:
            assert await store.touch("ghost", time.time() + 600) is False
            assert await store.load("ghost") is None

    # -- delta writes -----------------------------------------------------------

    @pytest.mark.gen_test
    async def test_save_changes_writes_only_the_delta(self) -> None:
        async with self._store("save_changes") as store:
            await store.save("k1", record({"keep": b"k", "old": b"o", "gone": b"g"}))
            later = time.time() + 3600
            changes = Changes(updated={"old": b"new", "added": b"a"}, deleted=frozenset({"gone"}))
            assert await store.save_changes("k1", changes, b"meta2", later) is True
            loaded = await store.load("k1")
            assert loaded is not None
            assert dict(loaded.fields) == {"keep": b"k", "old": b"new", "added": b"a"}
            assert loaded.meta == b"meta2"
            assert abs(loaded.expires_at - later) < EXPIRY_TOLERANCE

    @pytest.mark.gen_test
    async def test_save_changes_escapes_field_names(self) -> None:
        async with self._store("save_changes") as store:
            await store.save("k1", record({"a.b": b"1", "$x": b"2"}))
            changes = Changes(updated={"a.b": b"3", "c.$d": b"4"}, deleted=frozenset({"$x"}))
            assert await store.save_changes("k1", changes, b"m", time.time() + 600)
            loaded = await store.load("k1")
            assert loaded is not None and dict(loaded.fields) == {"a.b": b"3", "c.$d": b"4"}

    @pytest.mark.gen_test
    async def test_save_changes_on_missing_record_creates_nothing(self) -> None:
        async with self._store("save_changes") as store:
            changes = Changes(updated={"a": b"1"})
            assert await store.save_changes("ghost", changes, b"m", time.time() + 600) is False
            assert await store.load("ghost") is None

    @pytest.mark.gen_test
    async def test_concurrent_deltas_to_different_keys_all_survive(self) -> None:
        async with self._store("save_changes") as store:
            await store.save("k1", record({}))
            expires = time.time() + 600
            writes = [
                store.save_changes(
                    "k1", Changes(updated={f"key{i}": str(i).encode()}), b"m", expires
                )
                for i in range(20)
            ]
            assert all(await asyncio.gather(*writes))
            loaded = await store.load("k1")
            assert loaded is not None
            assert dict(loaded.fields) == {f"key{i}": str(i).encode() for i in range(20)}

    # -- administration ---------------------------------------------------------

    @pytest.mark.gen_test
    async def test_count_and_clear(self) -> None:
        async with self._store("count", "clear") as store:
            for i in range(3):
                await store.save(f"k{i}", record())
            await store.save("expired", record(ttl=-5))
            assert await store.count() == 3
            await store.clear()
            assert await store.count() == 0
            assert await store.load("k0") is None

    @pytest.mark.gen_test
    async def test_keys_lists_live_sessions(self) -> None:
        async with self._store("keys") as store:
            await store.save("k1", record())
            await store.save("k2", record())
            await store.save("expired", record(ttl=-5))
            assert {key async for key in store.keys()} == {"k1", "k2"}

    @pytest.mark.gen_test
    async def test_close_is_idempotent(self) -> None:
        store = await self.create_store()
        await store.close()
        await store.close()
