"""The core's store contract suite, run against a real PostgreSQL server."""

from __future__ import annotations

import pytest
from tornado_sessions_postgres import PostgresStore

from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestPostgresStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, postgres_server, table: str) -> None:
        self.url = f"{postgres_server.url}?table={table}"

    async def create_store(self) -> Store:
        store = PostgresStore.from_url(self.url, timeout=2.0)
        await store.open()
        await store.clear()
        return store


class TestPostgresSchemeAliasContract(StoreContract):
    """``postgres://`` (Heroku's spelling) and a pool of one connection."""

    @pytest.fixture(autouse=True)
    def _server(self, postgres_server, table: str) -> None:
        url = postgres_server.url.replace("postgresql://", "postgres://")
        self.url = f"{url}?table={table}&min_size=1&max_size=1"

    async def create_store(self) -> Store:
        store = PostgresStore.from_url(self.url, timeout=2.0)
        await store.open()
        await store.clear()
        return store
