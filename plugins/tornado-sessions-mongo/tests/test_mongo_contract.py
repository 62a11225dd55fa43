"""The core's store contract suite, run against a real server with both clients.

``pymongo``: the store is built from a URL and owns its ``AsyncMongoClient``;
``motor``: the store is handed a collection of a Motor client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from tornado_sessions_mongo import MongoStore, escape_field

from tornado_sessions.record import Record
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestMongoStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _setup(self, make_store: Callable[..., MongoStore], client_kind: str) -> None:
        self.make_store = make_store
        self.client_kind = client_kind

    async def create_store(self) -> Store:
        store = self.make_store(self.client_kind, timeout=5.0)
        await store.clear()
        return store

    async def plant_expired(self, store: Store, key: str, record: Record) -> None:
        """An expired document the TTL monitor has not reclaimed yet (``save`` deletes one)."""
        assert isinstance(store, MongoStore)
        doc = {
            "_id": key,
            "expires": datetime.fromtimestamp(record.expires_at, UTC),
            "meta": record.meta,
            "data": {escape_field(name): value for name, value in record.fields.items()},
        }
        await store.collection.replace_one({"_id": key}, doc, upsert=True)
