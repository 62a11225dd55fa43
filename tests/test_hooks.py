"""Observer hooks and scheme resolution through the plugin manager."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.conftest import Client, CountingStore
from tornado_sessions import ConfigurationError, MemoryStore, create_store, get_plugin_manager
from tornado_sessions.hooks import StoreFactory, hookimpl
from tornado_sessions.registry import store_schemes
from tornado_sessions.session import Session


class Recorder:
    """An observer plugin that records every lifecycle event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def tornado_sessions_session_created(self, session: Session, handler: Any) -> None:
        self.events.append(("created", handler.request.path))

    @hookimpl
    def tornado_sessions_session_loaded(self, session: Session, handler: Any) -> None:
        self.events.append(("loaded", handler.request.path))

    @hookimpl
    def tornado_sessions_session_saved(self, session: Session, handler: Any) -> None:
        self.events.append(("saved", handler.request.path))

    @hookimpl
    def tornado_sessions_session_destroyed(self, session: Session, handler: Any) -> None:
        self.events.append(("destroyed", handler.request.path))

    @hookimpl
    def tornado_sessions_store_error(
        self, error: BaseException, operation: str, handler: Any
    ) -> None:
        self.events.append((f"store_error:{operation}", handler.request.path))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    manager = get_plugin_manager()
    manager.register(plugin)
    yield plugin
    manager.unregister(plugin)


@pytest.mark.gen_test
async def test_lifecycle_hooks_see_every_event(
    client: Client, store: CountingStore, recorder: Recorder
) -> None:
    await client.fetch("/set?a=1")
    await client.fetch("/get")
    await client.fetch("/regenerate")
    await client.fetch("/destroy")
    await client.fetch("/set?b=1")
    store.fail.add("load")
    await client.fetch("/get")
    assert recorder.events == [
        ("created", "/set"),
        ("saved", "/set"),
        ("loaded", "/get"),
        ("loaded", "/regenerate"),
        ("destroyed", "/regenerate"),
        ("created", "/regenerate"),
        ("saved", "/regenerate"),
        ("loaded", "/destroy"),
        ("destroyed", "/destroy"),
        ("created", "/set"),
        ("saved", "/set"),
        ("store_error:load", "/get"),
    ]


def test_memory_scheme_resolves_through_the_builtin_plugin() -> None:
    store = create_store("memory://?max_entries=5")
    assert isinstance(store, MemoryStore) and store.max_entries == 5


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"memory://"):
        create_store("nosuch://x")


class Clash:
    @hookimpl
    def tornado_sessions_add_stores(self) -> Mapping[str, StoreFactory]:
        return {"memory": lambda url, *, timeout: MemoryStore()}


class Duplicate:
    @hookimpl
    def tornado_sessions_add_stores(self) -> Mapping[str, StoreFactory]:
        return {"dup": lambda url, *, timeout: MemoryStore()}


def test_two_plugins_claiming_one_scheme_is_an_error_for_that_scheme_only() -> None:
    manager = get_plugin_manager()
    plugins = [Clash(), Duplicate(), Duplicate()]
    for plugin in plugins:
        manager.register(plugin)
    try:
        with pytest.raises(ConfigurationError, match=r"'memory' is claimed by both .*Clash"):
            create_store("memory://")
        with pytest.raises(ConfigurationError, match=r"'dup' is claimed by both .*Duplicate"):
            create_store("dup://")
    finally:
        for plugin in plugins:
            manager.unregister(plugin)
    assert isinstance(create_store("memory://"), MemoryStore)


def test_a_clash_on_another_scheme_leaves_other_schemes_working() -> None:
    manager = get_plugin_manager()
    plugins = [Duplicate(), Duplicate()]
    for plugin in plugins:
        manager.register(plugin)
    try:
        assert isinstance(create_store("memory://"), MemoryStore)
        assert "dup" not in store_schemes() and "memory" in store_schemes()
    finally:
        for plugin in plugins:
            manager.unregister(plugin)


class ClosableStore(MemoryStore):
    closed = 0

    async def close(self) -> None:
        ClosableStore.closed += 1


@pytest.mark.gen_test
async def test_close_sessions_closes_the_store_and_is_safe_before_first_use() -> None:
    import tornado.web

    from tests.conftest import SECRET
    from tornado_sessions import SessionOptions, close_sessions, open_sessions

    app = tornado.web.Application([], sessions=SessionOptions(secret=SECRET, store=ClosableStore()))
    await close_sessions(app)  # nothing built yet
    await open_sessions(app)
    await close_sessions(app)
    await close_sessions(app)
    assert ClosableStore.closed == 1


class Broken:
    """An observer that fails after every successful write."""

    @hookimpl
    def tornado_sessions_session_saved(self, session: Session, handler: Any) -> None:
        raise RuntimeError("metrics backend down")


@pytest.mark.gen_test
async def test_an_observer_that_raises_never_fails_the_request(
    client: Client, store: CountingStore, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Broken()
    manager = get_plugin_manager()
    manager.register(broken)
    try:
        response = await client.fetch("/set?a=1")
    finally:
        manager.unregister(broken)
    assert response.code == 200 and response.cookie is not None  # the cookie went out
    assert (await client.fetch("/get")).json()["data"] == {"a": "1"}  # the record is usable
    assert "metrics backend down" in caplog.text and "the request goes on" in caplog.text
    assert ("saved", "/set") in recorder.events  # the other observers still ran


class AsyncObserver:
    """An ``async def`` observer: runs in its own task, never holding the response."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen: list[str] = []

    @hookimpl
    async def tornado_sessions_session_saved(self, session: Session, handler: Any) -> None:
        await self.release.wait()
        self.seen.append(session.id)


@pytest.mark.gen_test
async def test_an_async_observer_runs_without_holding_the_response(
    client: Client, store: CountingStore, app: Any
) -> None:
    observer = AsyncObserver()
    manager = get_plugin_manager()
    manager.register(observer)
    try:
        response = await client.fetch("/set?a=1")  # answered while the observer still waits
        assert response.code == 200 and observer.seen == []
        observer.release.set()
        from tornado_sessions import close_sessions

        await close_sessions(app)  # waits for the observers still running
        assert len(observer.seen) == 1
    finally:
        manager.unregister(observer)
