"""The SQL store of docs/writing-a-store.md (``examples/sqlite_store.py``) passes the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.sqlite_store import SQLiteStore
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestSQLiteStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = str(tmp_path / "sessions.db")  # a new database for each test

    async def create_store(self) -> Store:
        return SQLiteStore(self.path)
