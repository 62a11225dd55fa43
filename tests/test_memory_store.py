"""The memory store: the shared contract suite, plus what is particular to it (bounds, sweeping)."""

from __future__ import annotations

import pytest

from tornado_sessions import MemoryStore, Record
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestMemoryStoreContract(StoreContract):
    async def create_store(self) -> Store:
        return MemoryStore()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def rec(expires_at: float) -> Record:
    return Record({"a": b"1"}, b"m", expires_at)


@pytest.mark.gen_test
async def test_least_recently_used_session_is_evicted_past_max_entries() -> None:
    store = MemoryStore(max_entries=3)
    for key in ("a", "b", "c"):
        await store.save(key, rec(9e12))
    assert await store.load("a") is not None  # "a" is now the most recently used
    await store.save("d", rec(9e12))
    assert await store.load("b") is None
    assert {k async for k in store.keys()} == {"a", "c", "d"}
    assert store.evictions == 1


@pytest.mark.gen_test
async def test_expired_records_are_swept_on_write_without_being_read() -> None:
    clock = FakeClock()
    store = MemoryStore(sweep_interval=10, clock=clock)
    await store.save("short", rec(clock.now + 5))
    await store.save("long", rec(clock.now + 500))
    clock.now += 11
    await store.save("other", rec(clock.now + 500))  # a write triggers the sweep
    assert "short" not in store._records
    assert set(store._records) == {"long", "other"}


@pytest.mark.gen_test
async def test_touched_record_is_not_swept_at_its_old_deadline() -> None:
    clock = FakeClock()
    store = MemoryStore(sweep_interval=0, clock=clock)
    await store.save("k", rec(clock.now + 5))
    assert await store.touch("k", clock.now + 100)
    clock.now += 6
    await store.save("other", rec(clock.now + 500))
    assert await store.load("k") is not None


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


@pytest.mark.gen_test
async def test_memory_per_small_session_stays_under_one_kibibyte() -> None:
    import time
    import tracemalloc

    from tornado_sessions.ids import generate_id, store_key
    from tornado_sessions.meta import Meta, pack_meta
    from tornado_sessions.serializers import MsgpackSerializer

    serializer, store, count = MsgpackSerializer(), MemoryStore(max_entries=5000), 5000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            fields = {"user": serializer.dumps(42), "cart": serializer.dumps([1, 2, 3])}
            record = Record(fields, pack_meta(Meta(time.time())), time.time() + 3600)
            await store.save(store_key(generate_id(), True), record)
        per_session = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_session < 1024
