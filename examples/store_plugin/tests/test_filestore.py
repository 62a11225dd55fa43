"""The file store: the shared store contract, its URL, and what files add (persistence)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tornado_sessions_filestore import FileStore

from tornado_sessions import ConfigurationError, Record, create_store
from tornado_sessions.stores.base import Store
from tornado_sessions.testing import StoreContract


class TestFileStoreContract(StoreContract):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path / "sessions"  # a new, empty directory for each test

    async def create_store(self) -> Store:
        return FileStore(self.directory)  # the suite awaits open(), which creates it


def test_the_entry_point_serves_filestore_urls(tmp_path: Path) -> None:
    store = create_store(f"filestore://{tmp_path}/sessions", timeout=2.0)
    assert isinstance(store, FileStore)
    assert store.directory == tmp_path / "sessions"
    assert not store.directory.exists()  # the factory touches no file; open() does
    asyncio.run(store.open())
    assert store.directory.is_dir()


def test_a_url_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names a directory"):
        FileStore.from_url("filestore://somehost/sessions", timeout=2.0)


def test_sessions_outlive_the_store_object(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = FileStore(tmp_path)
        await first.open()
        await first.save("k1", Record({"user": b"\xa5alice"}, b"meta", time.time() + 60))
        await first.close()
        restarted = FileStore(tmp_path)  # as after a restart
        await restarted.open()
        loaded = await restarted.load("k1")
        assert loaded is not None and dict(loaded.fields) == {"user": b"\xa5alice"}

    asyncio.run(scenario())
