"""RedisStore against one real server: key layout, round trips, expiry, deltas, administration."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.scripts import CHUNK, LOAD, SAVE, SAVE_CHANGES

from tornado_sessions import Changes, ConfigurationError, Record


def rec(
    fields: dict[str, bytes] | None = None, *, ttl: float = 600.0, meta: bytes = b"m"
) -> Record:
    return Record(dict({"a": b"1"} if fields is None else fields), meta, time.time() + ttl)


async def poll_async(condition, timeout: float, what: str) -> float:
    """Await ``condition()`` until true; return when (monotonic) it became true."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic()


@pytest.fixture
def store_url(redis_server, key_prefix: str) -> str:
    return f"{redis_server.url}?prefix={key_prefix}"


@pytest.fixture
def admin(redis_server):
    client = redis_server.admin()
    yield client
    client.close()


# -- key layout -------------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_session_is_one_hash_with_meta_and_prefixed_fields(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("k1", rec({"user": b"\x01", "m": b"not meta", "f:x": b"y"}, meta=b"META"))
        raw_key = f"{key_prefix}k1".encode()
        assert admin.keys(f"{key_prefix}*") == [raw_key]
        assert admin.type(raw_key) == b"hash"
        assert admin.hgetall(raw_key) == {
            b"m": b"META",
            b"f:user": b"\x01",
            b"f:m": b"not meta",
            b"f:f:x": b"y",
        }
        loaded = await store.load("k1")
        assert loaded is not None
        assert dict(loaded.fields) == {"user": b"\x01", "m": b"not meta", "f:x": b"y"}
        assert loaded.meta == b"META"
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_default_prefix_is_tornado_sessions(redis_server, admin):
    store = RedisStore.from_url(redis_server.url, timeout=2.0)
    try:
        assert store.prefix == "tornado_sessions:"
        await store.save("default-prefix-key", rec())
        assert admin.exists(b"tornado_sessions:default-prefix-key") == 1
    finally:
        await store.destroy("default-prefix-key")
        await store.close()


@pytest.mark.gen_test
async def test_prefix_argument_overrides_the_url_option(redis_server, admin):
    store = RedisStore(f"{redis_server.url}?prefix=from-url:", prefix="from-arg:", timeout=2.0)
    try:
        await store.save("k", rec())
        assert admin.exists(b"from-arg:k") == 1 and admin.exists(b"from-url:k") == 0
    finally:
        await store.destroy("k")
        await store.close()


@pytest.mark.gen_test
async def test_foreign_hash_fields_are_ignored_on_load(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("k", rec({"a": b"1"}))
        admin.hset(f"{key_prefix}k", b"x-other", b"ignored")
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == {"a": b"1"}
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_field_names_with_lone_surrogates_round_trip(store_url):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        fields = {"\ud800odd": b"1", "ok": b"2"}
        await store.save("k", rec(fields))
        await store.save_changes("k", Changes(updated={"\udfffx": b"3"}), b"m", time.time() + 60)
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == {**fields, "\udfffx": b"3"}
    finally:
        await store.close()


# -- round trips: one command per operation ---------------------------------------------


@pytest.mark.gen_test
async def test_each_operation_is_exactly_one_command(store_url, redis_server, command_log):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("warm", rec())  # connects and caches the scripts
        await store.save_changes("warm", Changes(updated={"b": b"2"}), b"m", time.time() + 60)
        await store.load("warm")
        await store.touch("warm", time.time() + 60)
        await store.destroy("warm")
        async with command_log([(redis_server.host, redis_server.port)]) as log:
            await store.load("k")
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            await store.save("k", rec({"a": b"1", "b": b"2"}))
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            assert await store.load("k") is not None
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            changes = Changes(updated={"a": b"3"}, deleted=frozenset({"b"}))
            assert await store.save_changes("k", changes, b"m2", time.time() + 60)
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            assert await store.touch("k", time.time() + 120)
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            await store.destroy("k")  # a script: it also leaves the owner's index
            assert [c.name for c in await log.take()] == ["EVALSHA"]
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_every_write_sets_the_expiry_in_the_same_script(store_url, redis_server, command_log):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("warm", rec())
        await store.save_changes("warm", Changes(updated={"b": b"2"}), b"m", time.time() + 60)
        async with command_log([(redis_server.host, redis_server.port)]) as log:
            await store.save("k", rec({"a": b"1"}))
            whole = [c.name for c in await log.take(scripts=True)]
            # TYPE: the previous owner is read only from a hash (to leave its index)
            assert sorted(whole) == ["DEL", "EVALSHA", "HSET", "PEXPIRE", "TYPE"]
            changes = Changes(updated={"a": b"2"}, deleted=frozenset({"z"}))
            await store.save_changes("k", changes, b"m", time.time() + 60)
            delta = [c.name for c in await log.take(scripts=True)]
            # HGET: the previous owner, to leave its index if the owner changed
            assert sorted(delta) == ["EVALSHA", "EXISTS", "HDEL", "HGET", "HSET", "PEXPIRE"]
            # a delta to a missing record stops at EXISTS: nothing written, no expiry set
            await store.save_changes("ghost", changes, b"m", time.time() + 60)
            assert sorted(c.name for c in await log.take(scripts=True)) == ["EVALSHA", "EXISTS"]
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_unknown_scripts_are_sent_once_after_script_flush(
    store_url, redis_server, admin, command_log
):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("k", rec({"a": b"1"}))
        admin.script_flush()
        assert admin.script_exists(LOAD.sha, SAVE.sha, SAVE_CHANGES.sha) == [False] * 3
        async with command_log([(redis_server.host, redis_server.port)]) as log:
            loaded = await store.load("k")
            assert loaded is not None and dict(loaded.fields) == {"a": b"1"}
            assert [c.name for c in await log.take()] == ["EVALSHA", "EVAL"]
            assert await store.load("k") is not None
            assert [c.name for c in await log.take()] == ["EVALSHA"]
    finally:
        await store.close()


# -- expiry -----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_every_write_leaves_the_ttl_of_expires_at(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    raw_key = f"{key_prefix}k"
    try:
        await store.save("k", rec(ttl=100))
        assert 98_000 < admin.pttl(raw_key) <= 100_000
        assert await store.touch("k", time.time() + 200)
        assert 198_000 < admin.pttl(raw_key) <= 200_000
        assert await store.save_changes("k", Changes(updated={"b": b"2"}), b"m", time.time() + 300)
        assert 298_000 < admin.pttl(raw_key) <= 300_000
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_load_returns_the_stored_expiry(store_url):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        saved = rec(ttl=500)
        await store.save("k", saved)
        loaded = await store.load("k")
        assert loaded is not None and abs(loaded.expires_at - saved.expires_at) < 0.05
        later = time.time() + 900
        await store.touch("k", later)
        loaded = await store.load("k")
        assert loaded is not None and abs(loaded.expires_at - later) < 0.05
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_redis_itself_expires_the_key_at_expires_at(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        record = rec(ttl=0.3)
        await store.save("short", record)
        assert await store.load("short") is not None

        async def gone() -> bool:
            return admin.exists(f"{key_prefix}short") == 0

        await poll_async(gone, 5, "Redis to expire the key")
        assert time.time() >= record.expires_at - 0.01
        assert await store.load("short") is None
        # expired means gone for the delta and touch too: nothing is brought back
        assert await store.touch("short", time.time() + 60) is False
        assert (
            await store.save_changes("short", Changes(updated={"a": b"2"}), b"m", time.time() + 60)
            is False
        )
        assert admin.exists(f"{key_prefix}short") == 0
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_writes_with_a_past_expiry_delete_the_record(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    raw_key = f"{key_prefix}k"
    try:
        await store.save("k", rec())
        await store.save("k", rec(ttl=-1))
        assert admin.exists(raw_key) == 0
        await store.save("k", rec())
        assert await store.save_changes("k", Changes(updated={"a": b"2"}), b"m", time.time() - 1)
        assert admin.exists(raw_key) == 0
        await store.save("k", rec())
        assert await store.touch("k", time.time() - 1) is True
        assert admin.exists(raw_key) == 0
        assert await store.touch("k", time.time() - 1) is False
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_touch_of_a_missing_record_creates_no_key(store_url, key_prefix, admin):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        assert await store.touch("ghost", time.time() + 60) is False
        assert admin.exists(f"{key_prefix}ghost") == 0
    finally:
        await store.close()


# -- deltas and concurrency ---------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_deltas_from_many_clients_all_survive(store_url):
    stores = [RedisStore.from_url(store_url, timeout=5.0) for _ in range(4)]
    try:
        await stores[0].save("shared", rec({"base": b"0"}))
        expires = time.time() + 600
        writes = [
            stores[i % len(stores)].save_changes(
                "shared", Changes(updated={f"key{i}": str(i).encode()}), b"m", expires
            )
            for i in range(200)
        ]
        assert all(await asyncio.gather(*writes))
        loaded = await stores[1].load("shared")
        assert loaded is not None
        assert dict(loaded.fields) == {
            "base": b"0",
            **{f"key{i}": str(i).encode() for i in range(200)},
        }
    finally:
        for store in stores:
            await store.close()


@pytest.mark.gen_test
async def test_concurrent_delete_and_set_of_different_keys_both_apply(store_url):
    store_a = RedisStore.from_url(store_url, timeout=2.0)
    store_b = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store_a.save("k", rec({"drop": b"x", "keep": b"y"}))
        expires = time.time() + 600
        results = await asyncio.gather(
            store_a.save_changes("k", Changes(deleted=frozenset({"drop"})), b"m", expires),
            store_b.save_changes("k", Changes(updated={"new": b"z"}), b"m", expires),
        )
        assert results == [True, True]
        loaded = await store_a.load("k")
        assert loaded is not None and dict(loaded.fields) == {"keep": b"y", "new": b"z"}
    finally:
        await store_a.close()
        await store_b.close()


@pytest.mark.gen_test
async def test_a_destroyed_session_is_not_revived_by_a_late_delta_or_touch(
    store_url, key_prefix, admin
):
    store = RedisStore.from_url(store_url, timeout=2.0)
    try:
        await store.save("k", rec())
        await store.destroy("k")
        expires = time.time() + 600
        assert (
            await store.save_changes("k", Changes(updated={"late": b"1"}), b"m", expires) is False
        )
        assert await store.touch("k", expires) is False
        assert admin.exists(f"{key_prefix}k") == 0
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_many_fields_are_written_in_chunks(store_url):
    store = RedisStore.from_url(store_url, timeout=5.0)
    try:
        count = CHUNK * 5 + 7  # far past Lua's unpack limit, and not a multiple of a chunk
        fields = {f"k{i}": str(i).encode() for i in range(count)}
        await store.save("big", rec(fields))
        deleted = frozenset(f"k{i}" for i in range(0, count, 2))
        updated = {f"n{i}": b"v" for i in range(count)}
        assert await store.save_changes("big", Changes(updated, deleted), b"m", time.time() + 60)
        loaded = await store.load("big")
        assert loaded is not None
        expected = {k: v for k, v in fields.items() if k not in deleted} | updated
        assert dict(loaded.fields) == expected
    finally:
        await store.close()


# -- administration -----------------------------------------------------------------------


@pytest.mark.gen_test
async def test_clear_count_and_keys_see_only_this_prefix(redis_server, key_prefix, admin):
    prefix = key_prefix + "a*[b]?\\:"  # glob characters must match literally
    store = RedisStore(redis_server.url, prefix=prefix, timeout=2.0)
    neighbour = RedisStore(redis_server.url, prefix=key_prefix + "a", timeout=2.0)
    try:
        for i in range(2500):  # more than one SCAN batch
            await store.save(f"s{i}", rec())
        await neighbour.save("n", rec())
        admin.set(prefix + "not-a-hash", b"x")
        assert await store.count() == 2500
        assert {k async for k in store.keys()} == {f"s{i}" for i in range(2500)}
        async for _ in store.keys():  # stopping early leaves nothing behind
            break
        await store.clear()
        assert await store.count() == 0
        assert await neighbour.count() == 1
        assert admin.get(prefix + "not-a-hash") == b"x"
    finally:
        await neighbour.clear()
        await store.close()
        await neighbour.close()


# -- clients, options, closing ------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_client_passed_in_is_used_and_left_open(redis_server, key_prefix):
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    try:
        store = RedisStore(client, prefix=key_prefix)
        assert store.enforces_timeout is False
        await store.save("k", rec())
        assert await store.load("k") is not None
        await store.close()
        await store.close()
        assert await client.ping() is True
    finally:
        await client.aclose()


@pytest.mark.gen_test
async def test_a_client_built_from_a_url_is_closed_by_close(store_url, admin, key_prefix):
    name = key_prefix.replace(":", "-") + "owned"
    store = RedisStore.from_url(f"{store_url}&client_name={name}", timeout=2.0)
    await store.save("k", rec())

    def connected() -> int:
        return sum(1 for client in admin.client_list() if client.get("name") == name)

    assert connected() == 1
    await store.close()

    async def disconnected() -> bool:
        return connected() == 0

    await poll_async(disconnected, 5, "the store's connection to close")
    await store.close()  # idempotent
    assert connected() == 0


def test_url_timeout_reaches_the_client_sockets_and_the_store():
    store = RedisStore.from_url("redis://127.0.0.1:6379/0", timeout=0.75)
    settings = store.client.settings
    assert settings.socket_timeout == 0.75 and settings.socket_connect_timeout == 0.75
    assert store.enforces_timeout is True and store.timeout == 0.75
    store = RedisStore.from_url("redis://127.0.0.1:6379/0?client=redis-py", timeout=0.75)
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.75 and kwargs["socket_connect_timeout"] == 0.75
    assert kwargs["retry"].get_retries() == 0
    assert store.enforces_timeout is True and store.timeout == 0.75


def test_socket_timeouts_in_the_url_win():
    store = RedisStore.from_url("redis://127.0.0.1:6379/0?socket_timeout=5", timeout=0.75)
    settings = store.client.settings
    assert settings.socket_timeout == 5.0 and settings.socket_connect_timeout == 0.75
    url = "redis://127.0.0.1:6379/0?socket_timeout=5&client=redis-py"
    kwargs = RedisStore.from_url(url, timeout=0.75).client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 5.0 and kwargs["socket_connect_timeout"] == 0.75


def test_a_decoding_client_is_refused():
    client = redis.asyncio.Redis(decode_responses=True)
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        RedisStore(client)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisStore.from_url("redis://127.0.0.1:6379/0?decode_responses=true", timeout=1)


def test_a_non_positive_timeout_is_refused():
    with pytest.raises(ConfigurationError, match="timeout must be positive"):
        RedisStore("redis://127.0.0.1:6379/0", timeout=0)
