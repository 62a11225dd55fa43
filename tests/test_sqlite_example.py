"""The SQL store of docs/writing-a-store.md (``examples/sqlite_store.py``) passes the contract.

The test class is the one the guide shows, including its ``plant_expired``: the
default (``store.save``) would plant an expired row in this store too, but the
override shows how a store whose ``save`` deletes expired records does it.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from examples.sqlite_store import SQLiteStore
from tornado_sessions.record import Record
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = str(tmp_path / "sessions.db")  # a new, empty database for each test

    async def create_store(self) -> Store:
        return SQLiteStore(self.path)  # not opened: the suite awaits open()

    async def plant_expired(self, store: Store, key: str, record: Record) -> None:
        # Save it alive, then move its expiry into the past behind the store's back.
        await store.save(key, Record(record.fields, record.meta, time.time() + 60))
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("UPDATE sessions SET expires_at = ? WHERE key = ?", (record.expires_at, key))
