"""PostgresStore beyond the contract: concurrency, expiry, hostile names, corrupt rows,
cancellation, purging, the owner index, the schema and a pool passed in."""

from __future__ import annotations

import asyncio
import math
import time

import asyncpg
import pytest
from tornado_sessions_postgres import SCHEMA_VERSION, PostgresStore, create_script

from tornado_sessions import ConfigurationError
from tornado_sessions.errors import CorruptRecordError
from tornado_sessions.record import Changes, Record


def rec(fields=None, *, ttl=600.0, owner=None) -> Record:
    return Record(dict({"a": b"1"} if fields is None else fields), b"m", time.time() + ttl, owner)


async def opened(url: str, **kwargs) -> PostgresStore:
    store = PostgresStore(url, timeout=2.0, **kwargs)
    await store.open()
    return store


@pytest.fixture
def url(postgres_server, table) -> str:
    return f"{postgres_server.url}?table={table}"


async def admin(postgres_server) -> asyncpg.Connection:
    return await asyncpg.connect(postgres_server.url)


@pytest.mark.gen_test
async def test_a_destroy_racing_many_deltas_is_never_undone(url):
    store = await opened(url)
    try:
        for round_ in range(5):
            await store.save("k", rec())
            expires = time.time() + 600
            writes = [
                store.save_changes("k", Changes({f"x{i}": b"1"}), b"m", expires) for i in range(10)
            ]
            await asyncio.gather(*writes[:5], store.destroy("k"), *writes[5:])
            assert await store.load("k") is None, f"round {round_}: the destroyed row came back"
            assert await store.save_changes("k", Changes({"y": b"1"}), b"m", expires) is False
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_an_expired_row_still_in_the_table_is_never_read_touched_or_changed(
    url, postgres_server, table
):
    store = await opened(url)
    conn = await admin(postgres_server)
    try:
        await store.save("old", rec(owner="alice"))
        await store.save("live", rec(owner="alice"))
        past = math.floor((time.time() - 1) * 1000)
        await conn.execute(f'UPDATE "{table}" SET expires_ms = $1 WHERE key = $2', past, "old")
        assert await store.load("old") is None
        assert await store.touch("old", time.time() + 600) is False
        assert (
            await store.save_changes("old", Changes({"b": b"2"}), b"m", time.time() + 600) is False
        )
        assert await store.count() == 1
        assert [key async for key in store.keys()] == ["live"]
        assert [s.key for s in await store.owner_sessions("alice")] == ["live"]
        # still there, untouched, until purged
        assert (
            await conn.fetchval(f'SELECT expires_ms FROM "{table}" WHERE key = $1', "old") == past
        )
        assert await store.purge_expired() == 1
        assert await conn.fetchval(f'SELECT count(*) FROM "{table}"') == 1
    finally:
        await conn.close()
        await store.close()


@pytest.mark.gen_test
async def test_expiry_is_kept_to_the_millisecond_and_never_later_than_asked(url):
    store = await opened(url)
    try:
        asked = time.time() + 100.0017
        await store.save("k", rec())
        await store.touch("k", asked)
        loaded = await store.load("k")
        assert loaded is not None
        assert loaded.expires_at <= asked < loaded.expires_at + 0.001
        asked = time.time() + 50.0009
        assert await store.save_changes("k", Changes({"b": b"2"}), b"m", asked)
        loaded = await store.load("k")
        assert loaded is not None and loaded.expires_at <= asked < loaded.expires_at + 0.001
    finally:
        await store.close()


HOSTILE = {
    "it's": b"1",
    'say "hi"': b"2",
    "nul\x00inside": b"3",
    "\x00": b"4",
    "   ": b"5",
    "\t\n": b"6",
    "Case": b"7",
    "case": b"8",
    "CASE": b"9",
    "x" * 10_000: b"10",
    "'); DROP TABLE sessions; --": b"11",
    "\\": b"12",
    "lone \ud800 surrogate": b"13",
    "emoji \U0001f600": b"14",
    "$1": b"15",
}


@pytest.mark.gen_test
async def test_hostile_field_names_round_trip_exactly(url):
    store = await opened(url)
    try:
        await store.save("k", rec(HOSTILE))
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == HOSTILE
        changes = Changes({"case": b"new", "\x00": b"nul"}, frozenset({"Case", "x" * 10_000}))
        assert await store.save_changes("k", changes, b"m", time.time() + 600)
        expected = {k: v for k, v in HOSTILE.items() if k not in changes.deleted}
        expected.update(changes.updated)
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == expected
        assert loaded.fields["CASE"] == b"9" and "Case" not in loaded.fields
    finally:
        await store.close()


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "fields",
    [
        "[]",
        '"text"',
        '{"zz": "AA=="}',  # not hex
        '{"ff": "AA=="}',  # not UTF-8
        '{"61": 5}',  # not a string
        '{"61": "!!!"}',  # not base64
    ],
)
async def test_a_row_this_store_did_not_write_is_a_corrupt_record(
    url, postgres_server, table, fields
):
    store = await opened(url)
    conn = await admin(postgres_server)
    try:
        await store.save("k", rec())
        await conn.execute(f'UPDATE "{table}" SET fields = $1::jsonb WHERE key = $2', fields, "k")
        with pytest.raises(CorruptRecordError):
            await store.load("k")
        await store.destroy("k")  # what the core then does
        assert await store.load("k") is None
    finally:
        await conn.close()
        await store.close()


@pytest.mark.gen_test(timeout=20)
async def test_cancelled_calls_leave_no_connection_in_a_transaction(url, postgres_server, table):
    """The core's timeout cancels a call blocked on a row lock; the store keeps working."""
    store = await opened(f"{url}&min_size=1&max_size=2")
    conn = await admin(postgres_server)
    try:
        await store.save("k", rec())
        lock = conn.transaction()
        await lock.start()
        await conn.execute(f'SELECT 1 FROM "{table}" WHERE key = $1 FOR UPDATE', "k")
        for call in (
            lambda: store.save_changes("k", Changes({"b": b"2"}), b"m", time.time() + 600),
            lambda: store.touch("k", time.time() + 600),
            lambda: store.destroy("k"),
            lambda: store.save("k", rec()),
        ):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(call(), 0.2)
        await lock.rollback()
        # A cancelled write may still complete on the server (its connection was
        # terminated, its statement had been sent), as with any store: which of them
        # did is not asserted.  Every connection of the pool is usable, and none sits
        # inside a transaction.
        await store.save("k2", rec())
        loads = await asyncio.gather(*(store.load("k2") for _ in range(6)))
        assert all(loaded is not None for loaded in loads)
        stuck = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
            " AND pid <> pg_backend_pid()"
        )
        assert stuck == 0
    finally:
        await conn.close()
        await store.close()


@pytest.mark.gen_test
async def test_purge_expired_deletes_in_batches_and_keeps_live_rows(url, postgres_server, table):
    store = await opened(url, purge_batch=3)
    conn = await admin(postgres_server)
    try:
        for i in range(10):
            await store.save(f"old{i}", rec())
        await store.save("live", rec())
        past = math.floor((time.time() - 1) * 1000)
        await conn.execute(f'UPDATE "{table}" SET expires_ms = $1 WHERE key LIKE $2', past, "old%")
        assert await store.purge_expired() == 10
        assert await store.purge_expired() == 0
        assert await conn.fetchval(f'SELECT array_agg(key) FROM "{table}"') == ["live"]
    finally:
        await conn.close()
        await store.close()


@pytest.mark.gen_test(timeout=20)
async def test_purge_interval_runs_the_purge_in_the_background(url, postgres_server, table):
    store = await opened(f"{url}&purge_interval=0.05")
    conn = await admin(postgres_server)
    try:
        await store.save("old", rec())
        past = math.floor((time.time() - 1) * 1000)
        await conn.execute(f'UPDATE "{table}" SET expires_ms = $1', past)
        deadline = time.monotonic() + 10
        while await conn.fetchval(f'SELECT count(*) FROM "{table}"'):
            assert time.monotonic() < deadline, "the background purge never ran"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
        await store.close()


@pytest.mark.gen_test
async def test_owner_sessions_follow_saves_deltas_and_destroys(url):
    store = await opened(url)
    try:
        await store.save("a1", rec(owner="alice"))
        await store.save("a2", rec(owner="alice"))
        await store.save("b1", rec(owner="Alice"))  # owners are case-sensitive too
        await store.save("n", rec())
        assert sorted(s.key for s in await store.owner_sessions("alice")) == ["a1", "a2"]
        assert await store.save_changes("a2", Changes(owner="bob"), b"m2", time.time() + 60)
        assert [s.key for s in await store.owner_sessions("alice")] == ["a1"]
        (bob,) = await store.owner_sessions("bob")
        assert bob.key == "a2" and bob.meta == b"m2" and bob.expires_at > time.time()
        await store.destroy("a1")
        assert await store.owner_sessions("alice") == []
        assert [s.key for s in await store.owner_sessions("Alice")] == ["b1"]
        loaded = await store.load("b1")
        assert loaded is not None and loaded.owner == "Alice"
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_without_create_table_open_refuses_a_missing_table_then_uses_one_created_by_hand(
    url, postgres_server, table
):
    store = PostgresStore(f"{url}&create_table=false", timeout=2.0)
    with pytest.raises(ConfigurationError, match="does not exist and create_table is off"):
        await store.open()
    await store.close()
    conn = await admin(postgres_server)
    try:
        await conn.execute(create_script(table))
        store = await opened(f"{url}&create_table=false")
        await store.save("k", rec())
        assert await store.load("k") is not None
        await store.close()
    finally:
        await conn.close()


@pytest.mark.gen_test
async def test_open_refuses_a_schema_version_it_does_not_know(url, postgres_server, table):
    await (await opened(url)).close()  # creates the table
    conn = await admin(postgres_server)
    try:
        await conn.execute(f'UPDATE "{table}_schema" SET version = $1', SCHEMA_VERSION + 1)
        store = PostgresStore(url, timeout=2.0)
        with pytest.raises(ConfigurationError, match=f"schema version {SCHEMA_VERSION + 1}"):
            await store.open()
        await store.close()
    finally:
        await conn.close()


@pytest.mark.gen_test
async def test_open_is_safe_when_many_processes_create_the_table_at_once(url, postgres_server):
    stores = [PostgresStore(url, timeout=5.0) for _ in range(8)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        await stores[0].save("k", rec())
        assert await stores[-1].load("k") is not None
    finally:
        await asyncio.gather(*(store.close() for store in stores))


@pytest.mark.gen_test
async def test_a_pool_passed_in_is_used_and_never_closed(postgres_server, table):
    pool = await asyncpg.create_pool(postgres_server.url, min_size=1, max_size=2)
    try:
        store = PostgresStore(pool, table=table)
        assert store.pool is pool
        await store.open()
        await store.save("k", rec())
        assert await store.load("k") is not None
        await store.close()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
