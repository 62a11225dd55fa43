"""Keys the store cannot read: CorruptRecordError from load, then a fresh session over HTTP.

Someone with access to Redis (or a bug, or another application sharing the
database) can leave anything under a session's key.  Whatever it is, ``load``
raises :class:`CorruptRecordError` instead of a driver error, so the core deletes
the key, logs it and gives the request a fresh session, instead of a 503 on every
request forever.  Nothing is sized from a number read from the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from tornado_sessions_redis import RedisStore

from tornado_sessions import CorruptRecordError, Record

#: Each way to spoil a key: a name for the test id and what to do to the key.
PLANTS: dict[str, Callable[[redis.Redis, bytes], Any]] = {
    "string": lambda r, k: r.set(k, b"not a session"),
    "list": lambda r, k: r.rpush(k, b"a", b"b"),
    "set": lambda r, k: r.sadd(k, b"a"),
    "sorted set": lambda r, k: r.zadd(k, {b"a": 1.0}),
    "stream": lambda r, k: r.xadd(k, {b"a": b"1"}),
    "hash without meta": lambda r, k: (r.hset(k, b"f:a", b"1"), r.pexpire(k, 60_000)),
    "hash without ttl": lambda r, k: r.hset(k, mapping={b"m": b"meta", b"f:a": b"1"}),
    "hash with a ttl of a thousand years": lambda r, k: (
        r.hset(k, mapping={b"m": b"meta", b"f:a": b"1"}),
        r.pexpire(k, 1000 * 365 * 86400 * 1000),
    ),
    "hash with 10 kB of meta": lambda r, k: (
        r.hset(k, mapping={b"m": b"x" * 10_000, b"f:a": b"1"}),
        r.pexpire(k, 60_000),
    ),
    "hash with a field name that is not UTF-8": lambda r, k: (
        r.hset(k, mapping={b"m": b"meta", b"f:\xff\xfe": b"1"}),
        r.pexpire(k, 60_000),
    ),
    "hash whose meta claims 800 MB": lambda r, k: (
        r.hset(k, mapping={b"m": b"\xc6\x2f\xaf\x08\x00", b"f:a": b"1"}),
        r.pexpire(k, 60_000),
    ),
}


@pytest.fixture
def admin(redis_server):
    client = redis_server.admin()
    yield client
    client.close()


@pytest.mark.gen_test
@pytest.mark.parametrize("plant", [p for p in PLANTS if p != "hash whose meta claims 800 MB"])
async def test_load_of_a_key_this_store_did_not_write_is_corrupt(
    redis_server, key_prefix, admin, plant
):
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=2.0)
    try:
        PLANTS[plant](admin, f"{key_prefix}k".encode())
        with pytest.raises(CorruptRecordError, match="Redis key"):
            await store.load("k")
        await store.destroy("k")  # what the core does next: the key can be removed
        assert admin.exists(f"{key_prefix}k") == 0
        await store.save("k", Record({"a": b"1"}, b"m", time.time() + 60))
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields == {"a": b"1"}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_key_of_another_type_on_a_cluster_is_corrupt(redis_cluster, key_prefix):
    store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=2.0)
    try:
        await store.open()
        node = store.client.get_node_from_key(store.redis_key("k"))
        await store.client.execute_command("SET", store.redis_key("k"), b"x", target_nodes=node)
        with pytest.raises(CorruptRecordError, match="holds a string, not a hash"):
            await store.load("k")
    finally:
        await store.close()


# -- through HTTP: the core deletes the key and the request gets a fresh session ----------


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("plant", list(PLANTS))
async def test_a_spoiled_session_key_gives_a_fresh_session_and_is_deleted(
    browser, admin, key_prefix, plant, caplog
):
    assert (await browser.get("/set?a=1")).code == 200
    [raw_key] = admin.keys(f"{key_prefix}*")
    admin.delete(raw_key)
    PLANTS[plant](admin, raw_key)

    with caplog.at_level(logging.WARNING, logger="tornado_sessions"):
        reply = await browser.get("/get")
    assert reply.code == 200, reply.body
    assert reply.json() == {"data": {}, "new": True}
    assert admin.exists(raw_key) == 0  # deleted, not left to fail the next request
    assert any("corrupt session record" in r.getMessage() for r in caplog.records)

    reply = await browser.get("/set?b=2")  # the visitor carries on with a new session
    assert reply.code == 200 and reply.json() == {"data": {"b": "2"}, "new": True}
    assert (await browser.get("/get")).json() == {"data": {"b": "2"}, "new": False}
