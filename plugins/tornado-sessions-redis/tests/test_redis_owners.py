"""The owner index of RedisStore (``owner_sessions``) on a real server and a real cluster.

One sorted set per owner, ``<prefix>owner:<owner>``: members are store keys, scores
their expiry in Unix milliseconds.  These tests check how it is kept: an owner
change moves a session between sets, ``destroy`` and expiry take it out, the set
lives as long as its longest-lived member, listing costs one command plus one per
listed session (counted with MONITOR), and on a cluster, where the set and the
session live in different slots, what a failure between the two steps leaves:
never a live session missing from its owner's list.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.exceptions
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis import store as store_module
from tornado_sessions_redis.multiplexed import MultiplexedClient
from tornado_sessions_redis.scripts import INDEX_ADD, LuaScript
from tornado_sessions_redis.store import RedisStoreError

from tornado_sessions import Changes, Record


def owned(owner: str | None, *, ttl: float = 600.0, meta: bytes = b"m") -> Record:
    return Record({"user": b"u"}, meta, time.time() + ttl, owner)


@pytest.fixture(params=["single", "cluster"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def servers(request: pytest.FixtureRequest, kind: str) -> Any:
    return request.getfixturevalue("redis_server" if kind == "single" else "redis_cluster")


@pytest.fixture
def store(servers: Any, key_prefix: str, io_loop: Any) -> Iterator[RedisStore]:
    store = RedisStore.from_url(f"{servers.url}?prefix={key_prefix}", timeout=5.0)
    yield store
    io_loop.run_sync(store.close)


def masters(kind: str, servers: Any) -> list[tuple[str, int]]:
    if kind == "single":
        return [(servers.host, servers.port)]
    return [(node.host, node.port) for node in servers.primaries]


async def members(store: RedisStore, owner: str) -> dict[str, float]:
    """The raw index of ``owner``: store key -> score."""
    index = store.owner_index_key(owner)
    if isinstance(store.client, MultiplexedClient):  # raw RESP2: member, score, ...
        flat = await store.client.execute_command("ZRANGE", index, 0, -1, "WITHSCORES")
        reply = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    else:
        reply = await store.client.zrange(index, 0, -1, withscores=True)
    return {member.decode(): float(score) for member, score in reply}


async def listed(store: RedisStore, owner: str) -> set[str]:
    return {entry.key for entry in await store.owner_sessions(owner)}


@pytest.mark.gen_test(timeout=30)
async def test_listing_gives_each_live_session_its_meta_and_expiry(store: RedisStore) -> None:
    expires = {}
    for i in range(3):
        record = owned("alice", ttl=600 + i, meta=f"meta{i}".encode())
        expires[f"a{i}"] = record.expires_at
        await store.save(f"a{i}", record)
    await store.save("b0", owned("bob"))
    await store.save("anonymous", owned(None))
    found = {entry.key: entry for entry in await store.owner_sessions("alice")}
    assert set(found) == {"a0", "a1", "a2"}
    for i in range(3):
        entry = found[f"a{i}"]
        assert entry.meta == f"meta{i}".encode()
        assert expires[f"a{i}"] <= entry.expires_at <= expires[f"a{i}"] + 0.001
    assert await listed(store, "bob") == {"b0"}
    assert await store.owner_sessions("nobody") == []
    loaded = await store.load("a0")
    assert loaded is not None and loaded.owner == "alice"
    anonymous = await store.load("anonymous")
    assert anonymous is not None and anonymous.owner is None


@pytest.mark.gen_test(timeout=30)
async def test_an_owner_change_moves_the_session_to_the_new_owners_index(
    store: RedisStore,
) -> None:
    await store.save("s", owned("alice"))
    await store.save("s", owned("bob"))  # login as another user on the same session
    assert "s" not in await members(store, "alice")
    assert await listed(store, "bob") == {"s"}
    changes = Changes({"x": b"1"}, frozenset(), "carol")
    assert await store.save_changes("s", changes, b"m", time.time() + 600)
    assert "s" not in await members(store, "bob")
    assert await listed(store, "carol") == {"s"}
    # a delta that leaves the session without an owner takes it out of every index
    assert await store.save_changes("s", Changes({"x": b"2"}), b"m", time.time() + 600)
    assert "s" not in await members(store, "carol")
    record = await store.load("s")
    assert record is not None and record.owner is None and record.fields["x"] == b"2"


@pytest.mark.gen_test(timeout=30)
async def test_destroy_takes_the_session_out_of_its_owners_index(store: RedisStore) -> None:
    await store.save("gone", owned("alice"))
    await store.save("kept", owned("alice"))
    await store.destroy("gone")
    assert set(await members(store, "alice")) == {"kept"}  # removed, not just filtered
    assert await listed(store, "alice") == {"kept"}
    await store.destroy("kept")
    assert await store.client.execute_command("EXISTS", store.owner_index_key("alice")) == 0


@pytest.mark.gen_test(timeout=30)
async def test_expired_sessions_are_never_listed_and_leave_the_index(store: RedisStore) -> None:
    for key in ("live", "touched-out", "saved-out", "reclaimed"):
        await store.save(key, owned("alice"))
    await store.touch("touched-out", 1.0)  # expired in 1970: deleted
    await store.save("saved-out", owned("alice", ttl=-1))
    # what Redis does when a TTL runs out: the hash goes, the index is not told
    await store.client.execute_command("DEL", store.redis_key("reclaimed"))
    # an entry whose score has passed is not listed, whatever its hash says
    await store.client.execute_command("ZADD", store.owner_index_key("alice"), 1000, "old")
    assert await listed(store, "alice") == {"live"}
    assert set(await members(store, "alice")) <= {"live", "old"}
    assert "reclaimed" not in await members(store, "alice")  # dropped by the listing
    await store.save("later", owned("alice"))  # a write drops entries whose score passed
    assert set(await members(store, "alice")) == {"live", "later"}


@pytest.mark.gen_test(timeout=30)
async def test_the_index_lives_as_long_as_its_longest_lived_member(store: RedisStore) -> None:
    index = store.owner_index_key("alice")
    await store.save("long", owned("alice", ttl=3600))
    await store.save("short", owned("alice", ttl=60))
    pttl = await store.client.execute_command("PTTL", index)
    assert 3590_000 < pttl <= 3600_000  # not shortened by the shorter session
    later = time.time() + 7200
    assert await store.touch("short", later)
    assert (await members(store, "alice"))["short"] >= later * 1000 - 1
    assert await store.client.execute_command("PTTL", index) > 7190_000
    entry = {e.key: e for e in await store.owner_sessions("alice")}["short"]
    assert later <= entry.expires_at <= later + 0.001


@pytest.mark.gen_test(timeout=30)
async def test_listing_costs_one_command_plus_one_per_session_of_that_owner(
    store: RedisStore, kind: str, servers: Any, command_log: Any
) -> None:
    for i in range(30):
        await store.save(f"other{i}", owned(f"user{i % 5}"))
    for i in range(3):
        await store.save(f"alice{i}", owned("alice"))
    await store.owner_sessions("alice")  # the scripts are cached on every node
    async with command_log(masters(kind, servers)) as log:
        assert len(await store.owner_sessions("alice")) == 3
        names = sorted(c.name for c in await log.take())
    assert names == ["EVALSHA"] * 3 + ["ZRANGEBYSCORE"]


@pytest.mark.gen_test(timeout=30)
async def test_a_write_of_an_owned_session_is_one_script_on_a_single_node(
    redis_server: Any, key_prefix: str, command_log: Any
) -> None:
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=5.0)
    try:
        await _one_script_each(store, command_log([(redis_server.host, redis_server.port)]))
    finally:
        await store.close()


async def _one_script_each(store: RedisStore, monitor: Any) -> None:
    await store.save("warm", owned("alice"))
    await store.touch("warm", time.time() + 60)
    await store.destroy("warm")
    async with monitor as log:
        await store.save("k", owned("alice"))
        await store.save("k", owned("bob"))
        assert await store.touch("k", time.time() + 60)
        await store.destroy("k")
        assert [c.name for c in await log.take()] == ["EVALSHA"] * 4
        assert await members(store, "bob") == {}


# -- Redis Cluster: a failure between the index step and the session write -------------


@pytest.fixture
def cluster_store(redis_cluster: Any, key_prefix: str, io_loop: Any) -> Iterator[RedisStore]:
    """A store on the cluster only: a single node updates the index in the write's script."""
    store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=5.0)
    yield store
    io_loop.run_sync(store.close)


class Refuse:
    """Wraps the client's ``execute_command`` and fails the commands (or scripts) named."""

    def __init__(
        self, store: RedisStore, monkeypatch: pytest.MonkeyPatch, *names: str | LuaScript
    ) -> None:
        self.names = {name.upper() for name in names if isinstance(name, str)}
        self.scripts = {s.sha for s in names if isinstance(s, LuaScript)}
        self.scripts |= {s.source for s in names if isinstance(s, LuaScript)}
        self.real = store.client.execute_command
        monkeypatch.setattr(store.client, "execute_command", self)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = str(args[0]).upper()
        script = name in ("EVALSHA", "EVAL") and args[1] in self.scripts
        if name in self.names or script:
            raise redis.exceptions.ConnectionError("refused by the test")
        return await self.real(*args, **kwargs)


@pytest.mark.gen_test(timeout=30)
async def test_cluster_session_write_failing_after_the_index_step_is_not_listed(
    cluster_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cluster_store

    async def failing_write(*args: Any) -> Any:
        raise redis.exceptions.ConnectionError("the session's node is down")

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "SAVE", failing_write)
        with pytest.raises(RedisStoreError, match="save failed"):
            await store.save("never", owned("alice"))
    assert "never" in await members(store, "alice")  # the index step ran first
    assert await listed(store, "alice") == set()  # but a key without a session is not listed
    assert "never" not in await members(store, "alice")  # and listing dropped it


@pytest.mark.gen_test(timeout=30)
async def test_cluster_a_live_session_stays_listed_whatever_step_fails(
    cluster_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write puts the key in its owner's index *before* writing the session, so
    ``end_sessions`` can never miss a live session: a failure leaves at worst an
    index entry too many, which listing filters out and removes."""
    store = cluster_store
    await store.save("s", owned("alice"))
    # the delta's session write fails: the session keeps its owner, and is listed
    with monkeypatch.context() as patch:

        async def failing_write(*args: Any) -> Any:
            raise redis.exceptions.ConnectionError("the session's node is down")

        patch.setattr(store_module, "SAVE_CHANGES", failing_write)
        with pytest.raises(RedisStoreError):
            await store.save_changes("s", Changes({"x": b"1"}, owner="bob"), b"m", time.time() + 60)
    assert await listed(store, "alice") == {"s"}
    assert await listed(store, "bob") == set()  # bob's stale entry is filtered and dropped
    assert "s" not in await members(store, "bob")
    # an owner change whose last step (leaving the old owner's index) fails
    with monkeypatch.context() as patch:
        Refuse(store, patch, "ZREM")
        with pytest.raises(RedisStoreError):
            await store.save("s", owned("bob"))
    assert "s" in await members(store, "alice")  # left behind...
    assert await listed(store, "alice") == set()  # ...but no longer listed under alice
    assert await listed(store, "bob") == {"s"}
    # a touch whose index step fails writes nothing: the session keeps its expiry
    before = {e.key: e.expires_at for e in await store.owner_sessions("bob")}["s"]
    with monkeypatch.context() as patch:
        Refuse(store, patch, INDEX_ADD)
        with pytest.raises(RedisStoreError):
            await store.touch("s", time.time() + 3600)
    after = {e.key: e.expires_at for e in await store.owner_sessions("bob")}["s"]
    assert after == pytest.approx(before, abs=0.002)


@pytest.mark.gen_test(timeout=30)
async def test_cluster_destroy_whose_index_step_fails_is_filtered_out(
    cluster_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cluster_store
    await store.save("s", owned("alice"))
    with monkeypatch.context() as patch:
        Refuse(store, patch, "ZREM")
        with pytest.raises(RedisStoreError):
            await store.destroy("s")
    assert await store.load("s") is None  # the session is gone
    assert "s" in await members(store, "alice")  # its entry stayed behind
    assert await listed(store, "alice") == set()  # and is never listed
    assert await members(store, "alice") == {}
