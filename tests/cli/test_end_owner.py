"""``end-owner``: every session of one owner ends, through the store's owner index.

The store is a real :class:`MemoryStore` shared with the test: a plugin registered
in this process serves it under ``shared-memory://``, and the command runs
in-process (``tornado_sessions.cli.main``), since a ``memory://`` store of a child
process would be empty.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping

import pytest

from tornado_sessions import MemoryStore, Record, Store, get_plugin_manager
from tornado_sessions.cli import ExitCode, main
from tornado_sessions.hooks import StoreFactory, hookimpl
from tornado_sessions.ids import generate_id, owner_key, store_key
from tornado_sessions.meta import Meta, pack_meta


class SharedMemory:
    """A plugin serving one MemoryStore for every ``shared-memory://`` URL."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def factory(self, url: str, *, timeout: float) -> Store:
        return self.store

    @hookimpl
    def tornado_sessions_add_stores(self) -> Mapping[str, StoreFactory]:
        return {"shared-memory": self.factory}


@pytest.fixture
def shared() -> Iterator[SharedMemory]:
    plugin = SharedMemory()
    manager = get_plugin_manager()
    manager.register(plugin, name="test-shared-memory")
    try:
        yield plugin
    finally:
        manager.unregister(plugin)


def store_sessions(store: MemoryStore, owner: str | None, how_many: int, hashed: bool) -> None:
    indexed = owner_key(owner, hashed) if owner is not None else None
    now = time.time()
    meta = pack_meta(Meta(created_at=now, owner=indexed))

    async def save() -> None:
        for _ in range(how_many):
            key = store_key(generate_id(), True)
            await store.save(key, Record({}, meta, now + 600, indexed))

    asyncio.run(save())


def test_end_owner_ends_that_owners_sessions_only(
    shared: SharedMemory, capsys: pytest.CaptureFixture[str]
) -> None:
    store_sessions(shared.store, "alice@example.com", 3, hashed=True)
    store_sessions(shared.store, "bob@example.com", 2, hashed=True)
    store_sessions(shared.store, None, 1, hashed=True)

    code = main(["end-owner", "shared-memory://", "alice@example.com", "--json", "--progress"])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    assert json.loads(captured.out) == {"ended": 3, "ok": True, "url": "shared-memory://"}
    assert "end-owner: done, 3 sessions" in captured.err
    assert "alice" not in captured.out + captured.err  # owners are not echoed back
    assert asyncio.run(shared.store.count()) == 3
    bob = owner_key("bob@example.com", True)
    assert len(asyncio.run(shared.store.owner_sessions(bob))) == 2


def test_end_owner_with_plain_owners(
    shared: SharedMemory, capsys: pytest.CaptureFixture[str]
) -> None:
    store_sessions(shared.store, "42", 2, hashed=False)
    assert main(["end-owner", "shared-memory://", "42"]) == ExitCode.OK
    assert "ended 0 sessions" in capsys.readouterr().out  # hashed by default: not found
    assert main(["end-owner", "shared-memory://", "42", "--plain-owner"]) == ExitCode.OK
    assert "ended 2 sessions" in capsys.readouterr().out
    assert asyncio.run(shared.store.count()) == 0
