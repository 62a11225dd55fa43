"""SQLiteStore beyond the contract: WAL, cancellation, expired rows, hostile names,
corrupt rows, purging, the owner index, the schema, URLs and the plugin."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import subprocess
import sys
import time

import pytest
from tornado_sessions_sqlite import SCHEMA_VERSION, SQLiteStore, create_script, plugin

from tornado_sessions import ConfigurationError, create_store, get_plugin_manager
from tornado_sessions.errors import CorruptRecordError
from tornado_sessions.record import Changes, Record
from tornado_sessions.registry import store_schemes


def rec(fields=None, *, ttl=600.0, owner=None) -> Record:
    return Record(dict({"a": b"1"} if fields is None else fields), b"m", time.time() + ttl, owner)


async def opened(url: str) -> SQLiteStore:
    store = SQLiteStore(url, timeout=2.0)
    await store.open()
    return store


@pytest.mark.gen_test
async def test_the_database_is_in_wal_mode(sqlite_url, sqlite_path):
    store = await opened(sqlite_url)
    await store.close()
    with sqlite3.connect(sqlite_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.gen_test(timeout=20)
async def test_cancelled_calls_leave_the_connection_usable_and_outside_a_transaction(sqlite_url):
    store = await opened(sqlite_url)
    try:
        await store.save("k", rec())
        expires = time.time() + 600
        for round_ in range(30):
            calls = [
                asyncio.ensure_future(call)
                for call in (
                    store.save_changes("k", Changes({f"x{round_}": b"1"}), b"m", expires),
                    store.touch("k", expires),
                    store.load("k"),
                    store.purge_expired(),
                    store.save(f"other{round_}", rec()),
                )
            ]
            await asyncio.sleep(0)  # let them start
            for call in calls[round_ % len(calls) :]:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            assert store.connection.in_transaction is False
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields["a"] == b"1"
        assert await store.save_changes("k", Changes({"z": b"9"}), b"m", expires)
        assert (await store.load("k")).fields["z"] == b"9"
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_an_expired_row_still_in_the_table_is_never_read_touched_or_changed(
    sqlite_url, sqlite_path
):
    store = await opened(sqlite_url)
    try:
        await store.save("old", rec(owner="alice"))
        await store.save("live", rec(owner="alice"))
        with sqlite3.connect(sqlite_path) as db:
            past = math.floor((time.time() - 1) * 1000)
            db.execute("UPDATE tornado_sessions SET expires_ms = ? WHERE key = 'old'", (past,))
        assert await store.load("old") is None
        assert await store.touch("old", time.time() + 600) is False
        assert not await store.save_changes("old", Changes({"b": b"2"}), b"m", time.time() + 600)
        assert await store.count() == 1
        assert [key async for key in store.keys()] == ["live"]
        assert [s.key for s in await store.owner_sessions("alice")] == ["live"]
        assert await store.purge_expired() == 1
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_expiry_is_kept_to_the_millisecond_and_never_later_than_asked(sqlite_url):
    store = await opened(sqlite_url)
    try:
        asked = time.time() + 100.0017
        await store.save("k", rec())
        await store.touch("k", asked)
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
    "Case": b"7",
    "case": b"8",
    "CASE": b"9",
    "x" * 10_000: b"10",
    "'); DROP TABLE tornado_sessions; --": b"11",
    "lone \ud800 surrogate": b"13",
    "?": b"15",
}


@pytest.mark.gen_test
async def test_hostile_field_names_round_trip_exactly(sqlite_url):
    store = await opened(sqlite_url)
    try:
        await store.save("k", rec(HOSTILE))
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == HOSTILE
        changes = Changes({"case": b"new"}, frozenset({"Case", "x" * 10_000}))
        assert await store.save_changes("k", changes, b"m", time.time() + 600)
        expected = {k: v for k, v in HOSTILE.items() if k not in changes.deleted}
        expected.update(changes.updated)
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == expected
    finally:
        await store.close()


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "fields",
    ["[]", "not json", '{"zz": "AA=="}', '{"61": 5}', '{"61": "Kg E="}', '{"61": "\u00e9"}'],
)
async def test_a_row_this_store_did_not_write_is_a_corrupt_record(sqlite_url, sqlite_path, fields):
    store = await opened(sqlite_url)
    try:
        await store.save("k", rec())
        with sqlite3.connect(sqlite_path) as db:
            db.execute("UPDATE tornado_sessions SET fields = ?", (fields,))
        with pytest.raises(CorruptRecordError):
            await store.load("k")
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_purge_expired_deletes_in_batches(sqlite_path):
    store = await opened(f"sqlite:///{sqlite_path}?purge_batch=3")
    try:
        for i in range(10):
            await store.save(f"old{i}", rec())
        await store.save("live", rec())
        with sqlite3.connect(sqlite_path) as db:
            past = math.floor((time.time() - 1) * 1000)
            db.execute("UPDATE tornado_sessions SET expires_ms = ? WHERE key LIKE 'old%'", (past,))
        assert await store.purge_expired() == 10
        assert [key async for key in store.keys()] == ["live"]
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_owner_sessions_follow_saves_deltas_and_destroys(sqlite_url):
    store = await opened(sqlite_url)
    try:
        await store.save("a1", rec(owner="alice"))
        await store.save("a2", rec(owner="alice"))
        await store.save("b1", rec(owner="Alice"))
        assert sorted(s.key for s in await store.owner_sessions("alice")) == ["a1", "a2"]
        assert await store.save_changes("a2", Changes(owner="bob"), b"m2", time.time() + 60)
        assert [s.key for s in await store.owner_sessions("bob")] == ["a2"]
        await store.destroy("a1")
        assert await store.owner_sessions("alice") == []
        assert [s.key for s in await store.owner_sessions("Alice")] == ["b1"]
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_without_create_table_open_refuses_a_missing_table(sqlite_path):
    url = f"sqlite:///{sqlite_path}?create_table=false"
    store = SQLiteStore(url)
    with pytest.raises(ConfigurationError, match="create_table is off"):
        await store.open()
    await store.close()
    with sqlite3.connect(sqlite_path) as db:
        db.executescript(create_script("tornado_sessions"))
    store = await opened(url)
    await store.save("k", rec())
    assert await store.load("k") is not None
    await store.close()


@pytest.mark.gen_test
async def test_open_refuses_a_schema_version_it_does_not_know(sqlite_url, sqlite_path):
    await (await opened(sqlite_url)).close()
    with sqlite3.connect(sqlite_path) as db:
        db.execute("UPDATE tornado_sessions_schema SET version = ?", (SCHEMA_VERSION + 1,))
    store = SQLiteStore(sqlite_url)
    with pytest.raises(ConfigurationError, match="schema version"):
        await store.open()
    await store.close()


def test_the_entry_point_registers_the_plugin_module():
    assert get_plugin_manager().get_plugin("sqlite") is plugin
    assert store_schemes()["sqlite"] is plugin._FACTORY
    store = create_store("sqlite:///rel/sessions.db?table=s", timeout=1.0)
    assert isinstance(store, SQLiteStore) and store.path == "rel/sessions.db"
    assert store.table == "s" and store.connection is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db?tabel=s", "valid: table, create_table, purge_interval, purge_batch"),
        ("sqlite://host/x.db", "names a host"),
        ("sqlite:///", "needs a file"),
        ("sqlite:///x.db?table=a;b", "letters, digits"),
        ("sqlite:///x.db?create_table=maybe", "not a boolean"),
        ("sqlite:///x.db?purge_batch=0", "too small"),
    ],
)
def test_bad_urls_are_configuration_errors_when_the_store_is_built(url, message):
    with pytest.raises(ConfigurationError, match=message):
        create_store(url, timeout=1.0)


def test_aiosqlite_is_imported_only_when_a_store_opens():
    code = (
        "import sys, tornado_sessions_sqlite\n"
        "from tornado_sessions import create_store\n"
        "create_store('sqlite:///x.db', timeout=1.0)\n"
        "assert 'aiosqlite' not in sys.modules, 'aiosqlite imported too early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
