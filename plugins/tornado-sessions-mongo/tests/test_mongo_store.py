"""The MongoDB store beyond the shared contract: document layout, delta writes, expiry, indexes.

Every test runs against the real server (see ``conftest.py``), with both clients
where the client could make a difference, and looks at the stored documents
directly through the synchronous driver (the ``raw`` fixture).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from pymongo.errors import OperationFailure
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from tornado_sessions_mongo import MongoStore
from tornado_sessions_mongo.store import TTL_INDEX_NAME

from tornado_sessions import Changes, Record


def record(fields: dict[str, bytes], *, ttl: float = 600.0, meta: bytes = b"meta") -> Record:
    return Record(fields, meta, time.time() + ttl)


def past(seconds: float = 60) -> datetime:
    """A date ``seconds`` ago, at BSON's millisecond precision."""
    date = datetime.now(UTC) - timedelta(seconds=seconds)
    return date.replace(microsecond=date.microsecond // 1000 * 1000)


def naive(date: datetime) -> datetime:
    """How the synchronous driver hands back a stored date: naive UTC."""
    return date.astimezone(UTC).replace(tzinfo=None)


async def poll(condition: Any, *, timeout: float, what: str) -> None:
    """Wait until ``condition()`` is true, checking on every loop iteration."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


# -- document layout ----------------------------------------------------------------


@pytest.mark.gen_test
async def test_mongo_one_document_per_session_with_escaped_keys(
    open_store: Any, client_kind: str, raw: Any
) -> None:
    expires_at = time.time() + 600
    async with open_store(client_kind) as store:
        fields = {"a.b": b"\x00\x01", "$set": b"", "": b"e"}
        await store.save("key1", Record(fields, b"m", expires_at))
        await store.save("key2", record({"x": b"1"}))
    doc = raw.find_one({"_id": "key1"})
    assert set(doc) == {"_id", "expires", "meta", "data"}
    assert doc["meta"] == b"m"
    assert doc["data"] == {"a%2Eb": b"\x00\x01", "%24set": b"", "%": b"e"}
    assert isinstance(doc["expires"], datetime)
    assert raw.count_documents({}) == 2


@pytest.mark.gen_test
async def test_mongo_expiry_is_a_bson_date_truncated_to_milliseconds(
    open_store: Any, raw: Any
) -> None:
    expires_at = float(int(time.time()) + 600) + 0.1239
    async with open_store() as store:
        await store.save("k", Record({}, b"m", expires_at))
        loaded = await store.load("k")
    stored = raw.find_one({"_id": "k"})["expires"]
    whole_seconds = naive(datetime.fromtimestamp(int(expires_at), UTC))
    assert stored == whole_seconds + timedelta(milliseconds=123)
    assert loaded is not None
    assert expires_at - 0.001 <= loaded.expires_at <= expires_at


@pytest.mark.gen_test
async def test_mongo_far_future_expiry_is_clamped_to_the_largest_date(
    open_store: Any, raw: Any
) -> None:
    async with open_store() as store:
        await store.save("k", Record({"a": b"1"}, b"m", 1e15))
        loaded = await store.load("k")
    assert raw.find_one({"_id": "k"})["expires"] == datetime(9999, 12, 31, 23, 59, 59, 999000)
    assert loaded is not None and loaded.fields == {"a": b"1"}


@pytest.mark.gen_test
async def test_mongo_save_replaces_the_whole_document(open_store: Any, raw: Any) -> None:
    async with open_store() as store:
        await store.save("k", record({"a": b"1"}))
        raw.update_one({"_id": "k"}, {"$set": {"data.stray": b"x", "extra": 1}})
        await store.save("k", record({"b": b"2"}, meta=b"new"))
    doc = raw.find_one({"_id": "k"})
    assert set(doc) == {"_id", "expires", "meta", "data"}
    assert doc["data"] == {"b": b"2"} and doc["meta"] == b"new"


# -- delta writes and touch -----------------------------------------------------------


@pytest.mark.gen_test
async def test_mongo_delta_write_touches_only_the_changed_keys(
    open_store: Any, client_kind: str, raw: Any
) -> None:
    async with open_store(client_kind) as store:
        await store.save("k", record({"a": b"1", "b": b"1", "c": b"1"}))
        # Another request changed "b" meanwhile, behind this one's back.
        raw.update_one({"_id": "k"}, {"$set": {"data.b": b"other request"}})
        later = time.time() + 3600
        changes = Changes(updated={"a": b"2", "new.key": b"n"}, deleted=frozenset({"c"}))
        assert await store.save_changes("k", changes, b"meta2", later) is True
    doc = raw.find_one({"_id": "k"})
    assert doc["data"] == {"a": b"2", "b": b"other request", "new%2Ekey": b"n"}
    assert doc["meta"] == b"meta2"
    assert abs(doc["expires"].replace(tzinfo=UTC).timestamp() - later) < 0.002


@pytest.mark.gen_test
async def test_mongo_touch_updates_only_the_expiry(
    open_store: Any, client_kind: str, raw: Any
) -> None:
    async with open_store(client_kind) as store:
        await store.save("k", record({"a": b"1"}))
        raw.update_one({"_id": "k"}, {"$set": {"data.b": b"other request"}})
        before = raw.find_one({"_id": "k"})
        later = time.time() + 7200
        assert await store.touch("k", later) is True
    after = raw.find_one({"_id": "k"})
    assert after["data"] == before["data"] == {"a": b"1", "b": b"other request"}
    assert after["meta"] == before["meta"]
    assert after["expires"] > before["expires"]
    assert abs(after["expires"].replace(tzinfo=UTC).timestamp() - later) < 0.002


@pytest.mark.gen_test
async def test_mongo_concurrent_deltas_in_one_store_keep_every_key(
    open_store: Any, client_kind: str, raw: Any
) -> None:
    async with open_store(client_kind) as store:
        await store.save("k", record({}))
        expires = time.time() + 600
        results = await asyncio.gather(
            *(
                store.save_changes("k", Changes(updated={f"key.{i}": b"%d" % i}), b"m", expires)
                for i in range(30)
            ),
            *(store.touch("k", expires) for _ in range(5)),
        )
        assert all(results)
        assert len(store._key_locks) == 0  # no lock outlives its writers
    assert raw.find_one({"_id": "k"})["data"] == {f"key%2E{i}": b"%d" % i for i in range(30)}


@pytest.mark.gen_test
async def test_mongo_server_capabilities_are_detected(
    open_store: Any, mongo_server: Any
) -> None:
    async with open_store() as store:
        await store.open()
        with pymongo.MongoClient(mongo_server.url) as client:
            ferretdb_version = str(client.admin.command("buildInfo").get("ferretdbVersion", ""))
        if ferretdb_version.startswith("v1."):
            # FerretDB 1.x reads and rewrites a document for every update: not atomic.
            assert store.atomic_updates is False and store.serialize_writes is True
        else:
            assert store.atomic_updates is True and store.serialize_writes is False


@pytest.mark.gen_test(timeout=30)
async def test_mongo_concurrent_deltas_from_two_clients_keep_every_key(
    open_store: Any, raw: Any
) -> None:
    """Two stores with their own clients (as two processes would) write one session at once."""
    async with open_store("pymongo") as first, open_store("motor") as second:
        await first.open()
        if not first.atomic_updates:
            pytest.skip(
                "the server does not apply single-document updates atomically (FerretDB 1.x); "
                "writes are serialized only within one store, so across processes changes "
                "can be lost: run with TORNADO_SESSIONS_MONGO_URL pointing at a MongoDB"
            )
        await first.save("k", record({}))
        expires = time.time() + 600
        results = await asyncio.gather(
            *(
                store.save_changes("k", Changes(updated={f"{name}{i}": b"v"}), b"m", expires)
                for i in range(20)
                for name, store in (("first", first), ("second", second))
            )
        )
        assert all(results)
    assert len(raw.find_one({"_id": "k"})["data"]) == 40


# -- expiry ---------------------------------------------------------------------


@pytest.mark.gen_test
async def test_mongo_expired_document_is_never_returned_nor_revived(
    open_store: Any, client_kind: str, raw: Any
) -> None:
    expired = {"_id": "old", "expires": past(), "meta": b"m", "data": {"a": b"1"}}
    raw.insert_one(dict(expired))
    async with open_store(client_kind) as store:
        assert await store.load("old") is None
        assert await store.count() == 0
        assert [key async for key in store.keys()] == []
        assert await store.touch("old", time.time() + 600) is False
        changes = Changes(updated={"a": b"2"})
        assert await store.save_changes("old", changes, b"m2", time.time() + 600) is False
    left = raw.find_one({"_id": "old"})
    assert left is None or left == {**expired, "expires": naive(expired["expires"])}


@pytest.mark.gen_test
async def test_mongo_saving_an_expired_record_deletes_the_document(
    open_store: Any, raw: Any
) -> None:
    async with open_store() as store:
        await store.save("k", record({"a": b"1"}))
        await store.save("k", record({"a": b"2"}, ttl=-1))
        assert await store.load("k") is None
    assert raw.find_one({"_id": "k"}) is None


@pytest.mark.gen_test
async def test_mongo_delta_with_a_past_expiry_deletes_the_document(
    open_store: Any, raw: Any
) -> None:
    async with open_store() as store:
        await store.save("k", record({"a": b"1"}))
        assert await store.save_changes("k", Changes(), b"m", time.time() - 1) is True
    assert raw.find_one({"_id": "k"}) is None


@pytest.mark.gen_test
async def test_mongo_purge_expired_removes_only_expired_documents(
    open_store: Any, raw: Any
) -> None:
    raw.insert_one({"_id": "old", "expires": past(), "meta": b"m", "data": {}})
    async with open_store() as store:
        await store.save("live", record({"a": b"1"}))
        assert await store.purge_expired() == 1
    assert sorted(doc["_id"] for doc in raw.find()) == ["live"]


# -- TTL index, or the cleanup task ----------------------------------------------------


def server_accepts_ttl_indexes(raw: Any) -> bool:
    probe = raw.database[f"{raw.name}_ttl_probe"]
    try:
        probe.create_index("expires", expireAfterSeconds=0)
    except OperationFailure:
        return False
    finally:
        probe.drop()
    return True


@pytest.mark.gen_test
async def test_mongo_ttl_index_is_created_or_cleanup_task_started(
    open_store: Any, client_kind: str, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tornado_sessions.mongo")
    async with open_store(client_kind) as store:
        await store.save("k", record({"a": b"1"}))
        if server_accepts_ttl_indexes(raw):
            assert store.ttl_index is True
            index = raw.index_information()[TTL_INDEX_NAME]
            assert index["key"] == [("expires", 1)] and index["expireAfterSeconds"] == 0
            assert not store.cleanup_running
            assert "refused a TTL index" not in caplog.text
        else:  # FerretDB 1.x
            assert store.ttl_index is False
            assert store.cleanup_running
            assert "refused a TTL index" in caplog.text
            assert TTL_INDEX_NAME not in raw.index_information()
    assert not store.cleanup_running


class IndexCommands(CommandListener):
    """Counts the createIndexes commands a client sends."""

    def __init__(self) -> None:
        self.ttl = 0
        self.total = 0

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "createIndexes":
            self.total += 1
            self.ttl += any("expireAfterSeconds" in spec for spec in event.command["indexes"])

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.mark.gen_test
async def test_mongo_indexes_are_created_once_per_store_and_idempotently(
    open_store: Any, raw: Any
) -> None:
    listener = IndexCommands()
    async with open_store(client_options={"event_listeners": [listener]}) as store:
        await asyncio.gather(*(store.save(f"k{i}", record({})) for i in range(10)))
        await store.open()
        await store.load("k1")
        assert listener.ttl == 1
        ttl_index = store.ttl_index
    indexes = raw.index_information()
    async with open_store() as again:  # a second store on the same collection
        await again.open()
        assert again.ttl_index is ttl_index
    assert raw.index_information() == indexes


class RefusesTTL:
    """A collection whose server refuses TTL indexes, as FerretDB 1.x does."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        if "expireAfterSeconds" in kwargs:
            raise OperationFailure('Index option "expireAfterSeconds" is not implemented', 238)
        name: str = await self._collection.create_index(keys, **kwargs)
        return name


@pytest.mark.gen_test(timeout=30)
async def test_mongo_cleanup_task_deletes_expired_documents_and_stops_on_close(
    open_store: Any, client_kind: str, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tornado_sessions.mongo")
    async with open_store(client_kind, cleanup_interval=0.1) as store:
        store._coll = RefusesTTL(store._coll)
        await store.save("live", record({"a": b"1"}))
        assert store.ttl_index is False and store.cleanup_running
        assert "refused a TTL index" in caplog.text
        await store.save("short", record({"a": b"1"}, ttl=0.3))
        await poll(
            lambda: raw.find_one({"_id": "short"}, {"_id": 1}) is None,
            timeout=20,
            what="the cleanup task to delete the expired document",
        )
        assert raw.find_one({"_id": "live"}) is not None
        task = store._cleanup.task
        await store.close()
        assert task is not None and task.done() and not store.cleanup_running
        await store.close()  # idempotent


# -- timeouts ---------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_mongo_server_down_fails_within_the_timeout(
    client_kind: str, store_maker_for: Any, dead_url: str
) -> None:
    timeout = 0.6
    async with store_maker_for(dead_url)(client_kind, timeout=timeout) as store:
        assert store.enforces_timeout
        for call in (
            lambda: store.load("k"),
            lambda: store.save("k", record({})),
            lambda: store.touch("k", time.time() + 60),
        ):
            started = time.monotonic()
            with pytest.raises((pymongo.errors.PyMongoError, TimeoutError)):
                await call()
            assert time.monotonic() - started < timeout + 0.25


@pytest.mark.gen_test
async def test_mongo_url_store_configures_the_driver_timeouts(dead_url: str) -> None:
    store = MongoStore.from_url(dead_url + "app?serverSelectionTimeoutMS=900", timeout=1.5)
    try:
        options = store.collection.database.client.options
        assert options.timeout is None
        assert options.pool_options.connect_timeout == 0.75
        assert options.server_selection_timeout == 0.9  # the URL's own value wins
        assert store.enforces_timeout and store.timeout == 1.5
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_mongo_store_without_timeout_leaves_it_to_the_core(dead_url: str) -> None:
    store = MongoStore(dead_url + "app", timeout=None)
    try:
        assert store.enforces_timeout is False
        assert store.collection.database.client.options.timeout is None
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=90)
async def test_mongo_store_recovers_when_the_server_restarts(
    ferretdb: Any, client_kind: str, store_maker_for: Any
) -> None:
    timeout = 1.0
    async with store_maker_for(ferretdb.url)(client_kind, timeout=timeout) as store:
        await store.save("k", record({"a": b"1"}))
        port = ferretdb.port
        ferretdb.stop()
        started = time.monotonic()
        with pytest.raises((pymongo.errors.PyMongoError, TimeoutError)):
            await store.load("k")
        assert time.monotonic() - started < timeout + 0.25
        ferretdb.start()
        assert ferretdb.port == port
        loaded = await until_it_works(lambda: store.load("k"), timeout=30)
        assert loaded is not None and loaded.fields == {"a": b"1"}


async def until_it_works(call: Any, *, timeout: float) -> Any:
    """Retry ``call`` until it succeeds; each failed try waits out the store's own timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (pymongo.errors.PyMongoError, TimeoutError):
            if time.monotonic() > deadline:
                raise
