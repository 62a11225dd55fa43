"""RedisStore on a real Redis Cluster (three masters, a replica each): slots, round trips, admin."""

from __future__ import annotations

import time

import pytest
import redis.asyncio
from redis.asyncio.cluster import ClusterNode
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.scripts import (
    DESTROY,
    INDEX_ADD,
    LOAD,
    OWNED,
    SAVE,
    SAVE_CHANGES,
    TOUCH,
)

from tornado_sessions import Changes, ConfigurationError, Record


def rec(fields: dict[str, bytes] | None = None) -> Record:
    return Record(dict({"a": b"1"} if fields is None else fields), b"m", time.time() + 600)


def keys_per_node(cluster, pattern: str, type_: str | None = None) -> list[int]:
    """Keys matching ``pattern`` on each master (replicas hold copies)."""
    counts = []
    for node in cluster.primaries:
        with node.admin() as client:
            keys = client.scan_iter(match=pattern, count=1000, _type=type_)
            counts.append(sum(1 for _ in keys))
    return counts


@pytest.mark.gen_test(timeout=30)
async def test_sessions_spread_over_every_master_and_each_is_one_hash(redis_cluster, key_prefix):
    store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=2.0)
    try:
        assert store.is_cluster
        for i in range(60):
            await store.save(f"s{i}", rec({"n": str(i).encode()}))
        counts = keys_per_node(redis_cluster, f"{key_prefix}*")
        assert sum(counts) == 60 and all(count > 0 for count in counts)
        assert keys_per_node(redis_cluster, f"{key_prefix}*", "hash") == counts
        for i in range(60):
            loaded = await store.load(f"s{i}")
            assert loaded is not None and loaded.fields["n"] == str(i).encode()
        assert await store.count() == 60
        assert {k async for k in store.keys()} == {f"s{i}" for i in range(60)}
        await store.clear()
        assert await store.count() == 0
        assert keys_per_node(redis_cluster, f"{key_prefix}*") == [0, 0, 0]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_on_a_cluster_each_operation_is_one_command_on_one_node(
    redis_cluster, key_prefix, command_log
):
    store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=2.0)
    try:
        await store.load("warm")  # discovers the cluster
        # one pooled connection to every master, so no connection handshake is counted
        await store.client.ping(target_nodes=redis.asyncio.RedisCluster.PRIMARIES)
        for node in redis_cluster.primaries:  # every master knows the scripts
            with node.admin() as admin:
                for script in (LOAD, SAVE, SAVE_CHANGES, OWNED, TOUCH, DESTROY, INDEX_ADD):
                    assert admin.script_load(script.source) == script.sha
        masters = [(node.host, node.port) for node in redis_cluster.primaries]
        async with command_log(masters) as log:
            await store.save("k", rec())
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            assert await store.load("k") is not None
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            changes = Changes(updated={"a": b"2"}, deleted=frozenset({"z"}))
            assert await store.save_changes("k", changes, b"m", time.time() + 60)
            assert [c.name for c in await log.take()] == ["EVALSHA"]
            # touch reads the owner first (to update its index before the write)
            assert await store.touch("k", time.time() + 60)
            assert [c.name for c in await log.take()] == ["EVALSHA", "EVALSHA"]
            await store.destroy("k")
            assert [c.name for c in await log.take()] == ["EVALSHA"]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_ready_cluster_client_is_accepted_and_left_open(redis_cluster, key_prefix):
    host, port = redis_cluster.addresses[0]
    client = redis.asyncio.RedisCluster(startup_nodes=[ClusterNode(host, port)])
    try:
        store = RedisStore(client, prefix=key_prefix, timeout=2.0)
        assert store.is_cluster and f" {host}:{port} " in repr(store)
        await store.save("k", rec({"x": b"y"}))
        loaded = await store.load("k")
        assert loaded is not None and dict(loaded.fields) == {"x": b"y"}
        await store.close()
        assert await client.ping() is True
    finally:
        await client.aclose()


def test_cluster_can_be_asked_for_by_scheme_option_or_argument(redis_cluster):
    host, port = redis_cluster.addresses[0]
    for store in (
        RedisStore.from_url(f"redis+cluster://{host}:{port}", timeout=1.0),
        RedisStore.from_url(f"redis://{host}:{port}?cluster=true", timeout=1.0),
        RedisStore(f"redis://{host}:{port}", cluster=True, timeout=1.0),
    ):
        assert isinstance(store.client, redis.asyncio.RedisCluster)
    assert not RedisStore.from_url(f"redis://{host}:{port}?cluster=no", timeout=1.0).is_cluster


def test_cluster_urls_that_cannot_work_are_refused():
    with pytest.raises(ConfigurationError, match="unix"):
        RedisStore.from_url("unix:///tmp/redis.sock?cluster=true", timeout=1.0)
    with pytest.raises(ConfigurationError, match="Redis Cluster"):
        RedisStore.from_url("redis+cluster://127.0.0.1:7000?cluster=false", timeout=1.0)
    with pytest.raises(ConfigurationError, match="invalid Redis store URL"):
        RedisStore.from_url("redis+cluster://127.0.0.1:7000/3", timeout=1.0)
