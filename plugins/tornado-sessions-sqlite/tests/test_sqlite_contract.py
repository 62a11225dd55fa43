"""The core's store contract suite, run against SQLite on a temporary file."""

from __future__ import annotations

import pytest
from tornado_sessions_sqlite import SQLiteStore

from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestSQLiteStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, sqlite_url: str) -> None:
        self.url = sqlite_url

    async def create_store(self) -> Store:
        store = SQLiteStore.from_url(self.url, timeout=2.0)
        await store.open()
        await store.clear()
        return store
