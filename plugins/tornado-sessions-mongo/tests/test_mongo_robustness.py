"""Records the store cannot read, an unreachable server, cancellation, purge and close.

Against the real server (``conftest.py``): corrupt documents are planted with the
synchronous driver, behind the store's back; the unreachable server is a closed
port, so the driver's own error ("Connection refused") is what must reach the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tornado.web
from bson.int64 import Int64
from tornado_sessions_mongo import MongoStore

from tornado_sessions import (
    Changes,
    ConfigurationError,
    CorruptRecordError,
    Record,
    SessionOptions,
    StoreError,
    open_sessions,
)
from tornado_sessions.startup import close_sessions

SECRET = "x" * 32


def future(seconds: float = 600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


GOOD = {"expires": None, "meta": b"m", "data": {"a": b"1"}}

#: Documents whose fields have the wrong BSON types, or lack one.
CORRUPT: dict[str, dict[str, Any]] = {
    "meta_huge_int": {"meta": 800_000_000},
    "meta_int64": {"meta": Int64(800_000_000)},
    "meta_string": {"meta": "m"},
    "meta_missing": {"meta": ...},
    "data_string": {"data": "not a document"},
    "data_array": {"data": [b"1"]},
    "data_missing": {"data": ...},
    "value_int": {"data": {"a": 800_000_000}},
    "value_string": {"data": {"a": "1"}},
    "value_document": {"data": {"a": {"b": b"1"}}},
    "expires_string": {"expires": "tomorrow"},
    "expires_number": {"expires": time.time() + 600},
    "expires_missing": {"expires": ...},
}


def corrupt_document(key: str, case: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": key, **GOOD, "expires": future()}
    for name, value in CORRUPT[case].items():
        if value is ...:
            del doc[name]
        else:
            doc[name] = value
    return doc


@pytest.mark.parametrize("case", sorted(CORRUPT))
@pytest.mark.gen_test
async def test_mongo_load_of_a_document_of_wrong_types_raises_corrupt_record(
    open_store: Any, raw: Any, case: str
) -> None:
    raw.insert_one(corrupt_document("bad", case))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with open_store() as store:
        with pytest.raises(CorruptRecordError):
            await store.load("bad")
        # The store still works, for other keys and for this one once replaced.
        await store.save("bad", Record({"a": b"2"}, b"m", time.time() + 60))
        loaded = await store.load("bad")
        assert loaded is not None and loaded.fields == {"a": b"2"}
    # A meta of 800,000,000 is not turned into 800 MB of zeros (ru_maxrss is in KiB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100_000


@pytest.mark.gen_test
async def test_mongo_undecodable_document_raises_corrupt_record(open_store: Any, raw: Any) -> None:
    from bson.datetime_ms import DatetimeMS

    # A date past the year 9999: PyMongo's default decoding refuses it.
    raw.insert_one({"_id": "bad", **GOOD, "expires": DatetimeMS(253_402_300_800_000 + 1000)})
    async with open_store() as store:
        with pytest.raises(CorruptRecordError, match="decoded"):
            await store.load("bad")


@pytest.mark.parametrize("case", ["meta_huge_int", "value_int", "expires_string", "data_missing"])
@pytest.mark.gen_test(timeout=30)
async def test_mongo_corrupt_document_over_http_is_deleted_and_a_fresh_session_starts(
    browser: Any, app_collection: Any, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await browser.get("/set?user=ada")).code == 200
    (doc,) = list(app_collection.find())
    app_collection.replace_one({"_id": doc["_id"]}, corrupt_document(doc["_id"], case))
    caplog.set_level(logging.WARNING, logger="tornado_sessions")
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {}, "new": True}
    assert "corrupt session record" in caplog.text
    assert app_collection.find_one({"_id": doc["_id"]}) is None  # deleted, not left to 503
    reply = await browser.get("/set?user=bob")
    assert reply.code == 200 and reply.json() == {"data": {"user": "bob"}, "new": True}


# -- an unreachable server --------------------------------------------------------


STORE_TIMEOUT = 2.0


@pytest.mark.gen_test(timeout=30)
async def test_mongo_open_sessions_on_a_closed_port_names_host_and_cause(dead_url: str) -> None:
    host = dead_url.split("//")[1].rstrip("/")
    app = tornado.web.Application(
        [],
        sessions=SessionOptions(secret=SECRET, store=dead_url + "app", store_timeout=STORE_TIMEOUT),
    )
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        await open_sessions(app)
    elapsed = time.monotonic() - started
    assert elapsed < STORE_TIMEOUT * 0.75  # server selection: half the store timeout
    message = str(raised.value)
    assert host in message and "Connection refused" in message, message
    assert raised.value.__cause__ is not None  # the driver's error, chained
    await close_sessions(app)


@pytest.mark.gen_test
async def test_mongo_unknown_option_fails_open_sessions() -> None:
    app = tornado.web.Application(
        [], sessions=SessionOptions(secret=SECRET, store="mongodb://h/app?colection=s")
    )
    with pytest.raises(ConfigurationError, match="did you mean 'collection'"):
        await open_sessions(app)


@pytest.mark.gen_test
async def test_mongo_client_with_a_long_server_selection_timeout_is_warned_about(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import pymongo

    client: Any = pymongo.AsyncMongoClient(dead_url, serverSelectionTimeoutMS=30_000)
    caplog.set_level(logging.WARNING, logger="tornado_sessions.mongo")
    try:
        store = MongoStore(client, timeout=0.5)
        with pytest.raises(TimeoutError, match=r"did not answer within 0\.5s"):
            await store.open()
        assert "serverSelectionTimeoutMS=250" in caplog.text
    finally:
        await client.close()


# -- purge, close, cancellation ------------------------------------------------------


@pytest.mark.gen_test
async def test_mongo_purge_expired_deletes_expired_documents_at_once(
    open_store: Any, raw: Any
) -> None:
    raw.insert_many(
        [{"_id": f"old{i}", **GOOD, "expires": datetime.now(UTC) - timedelta(seconds=5)}
         for i in range(3)]
    )
    async with open_store() as store:
        await store.save("live", Record({"a": b"1"}, b"m", time.time() + 600))
        assert await store.purge_expired() == 3
        assert await store.purge_expired() == 0
    assert [doc["_id"] for doc in raw.find()] == ["live"]


@pytest.mark.gen_test
async def test_mongo_close_is_idempotent_and_allowed_before_open(make_store: Any) -> None:
    store = make_store()
    await store.close()
    await store.close()
    store = make_store()
    await store.open()
    await store.close()
    await store.close()
    assert not store.cleanup_running


@pytest.mark.gen_test(timeout=120)
async def test_mongo_every_operation_survives_cancellation_at_each_await(
    open_store: Any, client_kind: str
) -> None:
    """Cancel each operation after 0, 1, 2... turns of the loop; the store keeps working."""
    async with open_store(client_kind) as store:
        await store.open()
        later = time.time() + 600
        operations = {
            "load": lambda key: store.load(key),
            "save": lambda key: store.save(key, Record({"z": b"1"}, b"s", later)),
            "destroy": lambda key: store.destroy(key),
            "touch": lambda key: store.touch(key, later),
            "save_changes": lambda key: store.save_changes(
                key, Changes({"a": b"2"}), b"c", later
            ),
            "purge_expired": lambda key: store.purge_expired(),
            "count": lambda key: store.count(),
        }
        for name, operation in operations.items():
            for steps in range(60):
                key = f"{name}-{steps}"
                await store.save(key, Record({"a": b"1"}, b"m", later))
                task = asyncio.ensure_future(operation(key))
                for _ in range(steps):
                    if task.done():
                        break
                    await asyncio.sleep(0)
                completed = task.done()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await store.save("probe", Record({"p": b"1"}, b"p", later))
                probe = await store.load("probe")
                assert probe is not None and probe.fields == {"p": b"1"}, (name, steps)
                assert len(store._key_locks) == 0, (name, steps)
                if completed:
                    break
