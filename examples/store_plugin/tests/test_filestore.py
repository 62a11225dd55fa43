"""The file store: the shared store contract, its URL, and what files add (persistence)."""

from __future__ import annotations

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
        self.directory = tmp_path  # a new, empty directory for each test

    async def create_store(self) -> Store:
        return FileStore(self.directory)


def test_the_entry_point_serves_filestore_urls(tmp_path: Path) -> None:
    store = create_store(f"filestore://{tmp_path}/sessions", timeout=2.0)
    assert isinstance(store, FileStore)
    assert store.directory == tmp_path / "sessions"


def test_a_url_with_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names a directory"):
        FileStore.from_url("filestore://somehost/sessions", timeout=2.0)


@pytest.mark.gen_test
async def test_sessions_outlive_the_store_object(tmp_path: Path) -> None:
    record = Record({"user": b"\xa5alice"}, b"meta", time.time() + 60)
    await FileStore(tmp_path).save("k1", record)
    loaded = await FileStore(tmp_path).load("k1")  # as after a restart
    assert loaded is not None and dict(loaded.fields) == {"user": b"\xa5alice"}
