"""The core's store contract suite, run against a real Redis server and a real cluster."""

from __future__ import annotations

import pytest
from tornado_sessions_redis import RedisStore

from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestRedisStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server, key_prefix: str) -> None:
        self.url = f"{redis_server.url}?prefix={key_prefix}"

    async def create_store(self) -> Store:
        store = RedisStore.from_url(self.url, timeout=2.0)
        await store.clear()
        return store


class TestRedisPyClientContract(StoreContract):
    """The escape hatch: the same server through redis-py's pooled client."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_server, key_prefix: str) -> None:
        self.url = f"{redis_server.url}?prefix={key_prefix}&client=redis-py"

    async def create_store(self) -> Store:
        store = RedisStore.from_url(self.url, timeout=2.0)
        await store.clear()
        return store


class TestRedisUnixSocketContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server, key_prefix: str) -> None:
        self.url = f"unix://{redis_server.unix_socket}?db=0&prefix={key_prefix}"

    async def create_store(self) -> Store:
        store = RedisStore.from_url(self.url, timeout=2.0)
        await store.clear()
        return store


class TestRedisClusterContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_cluster, key_prefix: str) -> None:
        self.url = f"{redis_cluster.url}?prefix={key_prefix}"

    async def create_store(self) -> Store:
        store = RedisStore.from_url(self.url, timeout=2.0)
        await store.clear()
        return store
