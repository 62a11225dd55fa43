"""Concurrent requests on one session: what survives, what is lost, what comes back.

Owns the "concurrent-request races" evidence of SECURITY.md.  Requests are made to
interleave deterministically, without sleeps: each gated handler loads its session,
changes it, then waits at a :class:`Gate` until every request of the round has
loaded; the test then releases them in a chosen order.  So every request of a round
starts from the same stored version, the worst case for lost updates.

- Delta writes (the default, for every store with ``save_changes``): concurrent
  requests changing different keys lose nothing; the same key is last-writer-wins.
- ``resave=True``: every key is rewritten (as a delta), so a request that loaded
  the session before another one changed a key puts the old value back.  A store
  without deltas gets whole-record writes: the last request to finish overwrites
  everything the others wrote.  The tests assert exactly these documented losses.
- A request still running when another one destroys or regenerates the session
  must not bring the old record back (logout and login must stick).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.web

from tornado_sessions import (
    MemoryStore,
    Record,
    SessionMixin,
    SessionOptions,
    Store,
    close_sessions,
)

SECRET = "security-suite-secret-0123456789abcdef"


class Gate:
    """Holds gated requests after they loaded their session, until released by name."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.expected = 0
        self.all_loaded = asyncio.Event()
        self.releases: dict[str, asyncio.Event] = {}

    def expect(self, count: int) -> None:
        self.expected = count
        self.loaded.clear()
        self.all_loaded.clear()

    async def arrive(self, name: str) -> None:
        self.loaded.append(name)
        if len(self.loaded) >= self.expected:
            self.all_loaded.set()
        await self.releases.setdefault(name, asyncio.Event()).wait()

    def release(self, name: str) -> None:
        self.releases.setdefault(name, asyncio.Event()).set()


class Gated(SessionMixin, tornado.web.RequestHandler):
    """Loads, sets the query arguments (but ``name`` and ``op``), waits at the gate, then
    optionally destroys (``op=destroy``), regenerates (``op=regenerate``), streams the
    response's start (``op=flush``) or saves at once (``op=save``)."""

    async def get(self) -> None:
        gate: Gate = self.settings["gate"]
        session = await self.get_session()
        for key in self.request.arguments:
            if key not in ("name", "op"):
                session[key] = self.get_argument(key)
        await gate.arrive(self.get_argument("name"))
        op = self.get_argument("op", "")
        if op == "destroy":
            await session.destroy()
        elif op == "regenerate":
            await session.regenerate()
            session["user"] = "alice"
        elif op == "flush":
            self.write("streaming;")
            await self.flush()
            session["late"] = "1"
        elif op == "save":
            await session.save()
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class WholeRecordStore(Store):
    """A store with only the required methods: the core's conditional writes fall back to
    a read, a check and a whole-record save, which are not one atomic step.

    ``hold_saves(n)`` makes saves wait until ``n`` of them are waiting, so that a test
    can make two requests' read-check-write interleave.
    """

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self._held: list[asyncio.Future[None]] = []
        self._hold = 0

    def hold_saves(self, count: int) -> None:
        self._hold = count

    async def load(self, key: str) -> Record | None:
        return await self.inner.load(key)

    async def save(self, key: str, record: Record) -> None:
        if self._hold:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._held.append(waiter)
            if len(self._held) == self._hold:
                self._hold = 0
                for held in self._held:
                    held.set_result(None)
                self._held = []
            await waiter
        await self.inner.save(key, record)

    async def destroy(self, key: str) -> None:
        await self.inner.destroy(key)

    async def count(self) -> int:
        return await self.inner.count()


def _delta_stores() -> list[Any]:
    """Every store kind that supports delta writes (Redis and MongoDB need their servers)."""
    return ["memory", "redis", "mongo"]


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Store | str:
    """A store instance, or the URL of one (the runtime then builds it in the test's loop)."""
    kind = getattr(request, "param", "memory")
    unique = uuid.uuid4().hex[:12]
    if kind == "whole-record":
        return WholeRecordStore()
    if kind == "redis":
        return request.getfixturevalue("security_redis_url") + f"?prefix=sec{unique}:"
    if kind == "mongo":
        url = request.getfixturevalue("security_mongo_url")
        return f"{url}security?collection=c{unique}"
    return MemoryStore()


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: Store | str) -> SessionOptions:
    extra = getattr(request, "param", {})
    return SessionOptions(secret=SECRET, store=store, **extra)


@pytest.fixture
def app(
    session_options: SessionOptions, gate: Gate, io_loop: Any
) -> Iterator[tornado.web.Application]:
    handlers = [(r"/gated", Gated), (r"/peek", _Peek), (r"/put", _Put)]
    application = tornado.web.Application(handlers, sessions=session_options, gate=gate)
    yield application
    io_loop.run_sync(lambda: close_sessions(application))  # network stores hold connections


class _Peek(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class _Put(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        for key in self.request.arguments:
            session[key] = self.get_argument(key)
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


async def _start_session(client: Any, **data: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in data.items())
    reply = await client.get(f"/put?{query}")
    assert reply.status == 200 and reply.session_cookie
    return reply.session_cookie


async def _round(
    client: Any, gate: Gate, cookie: str, requests: dict[str, str], order: list[str]
) -> dict[str, Any]:
    """Start every request, wait until all loaded, release them one by one in ``order``."""
    gate.expect(len(requests))
    tasks = {
        name: asyncio.ensure_future(client.get(f"/gated?name={name}&{query}", cookie=cookie))
        for name, query in requests.items()
    }
    await gate.all_loaded.wait()
    replies = {}
    for name in order:
        gate.release(name)
        replies[name] = await tasks[name]  # each finishes (and commits) before the next
    return replies


# -- delta writes ------------------------------------------------------------------


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
@pytest.mark.parametrize("count", [2, 10])
async def test_concurrent_requests_changing_different_keys_lose_nothing(
    client: Any, gate: Gate, store: Store | str, count: int
) -> None:
    cookie = await _start_session(client, base="0")
    names = [f"r{i}" for i in range(count)]
    replies = await _round(client, gate, cookie, {n: f"k_{n}=v_{n}" for n in names}, names)
    assert {r.status for r in replies.values()} == {200}
    data = (await client.get("/peek", cookie=cookie)).json["data"]
    assert data == {"base": "0", **{f"k_{n}": f"v_{n}" for n in names}}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
async def test_concurrent_requests_changing_different_keys_in_any_order_lose_nothing(
    client: Any, gate: Gate, store: Store | str
) -> None:
    cookie = await _start_session(client, base="0")
    names = ["a", "b", "c", "d"]
    await _round(client, gate, cookie, {n: f"k_{n}=1" for n in names}, ["c", "a", "d", "b"])
    data = (await client.get("/peek", cookie=cookie)).json["data"]
    assert data == {"base": "0", "k_a": "1", "k_b": "1", "k_c": "1", "k_d": "1"}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
async def test_concurrent_writes_to_the_same_key_are_last_writer_wins(
    client: Any, gate: Gate, store: Store | str
) -> None:
    cookie = await _start_session(client, base="0")
    await _round(client, gate, cookie, {"a": "k=from_a", "b": "k=from_b"}, ["a", "b"])
    assert (await client.get("/peek", cookie=cookie)).json["data"] == {"base": "0", "k": "from_b"}


# -- whole-record writes: the documented loss ----------------------------------------


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
@pytest.mark.parametrize("session_options", [{"resave": True}], indirect=True)
async def test_with_resave_a_stale_request_reverts_the_keys_it_loaded(
    client: Any, gate: Gate, store: Store | str, session_options: SessionOptions
) -> None:
    cookie = await _start_session(client, base="0")
    await _round(client, gate, cookie, {"a": "base=a&k_a=1", "b": "k_b=1"}, ["a", "b"])
    data = (await client.get("/peek", cookie=cookie)).json["data"]
    # Documented outcome: resave writes every key this request holds (as a delta, so
    # keys it never saw survive), which puts back the value it loaded for "base":
    # request "a"'s change to base is lost, its new key k_a is kept.
    assert data == {"base": "0", "k_a": "1", "k_b": "1"}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", ["whole-record"], indirect=True)
async def test_a_store_without_atomic_writes_keeps_changes_that_do_not_interleave(
    client: Any, gate: Gate, store: Store | str
) -> None:
    assert isinstance(store, Store) and not store.atomic_conditional_writes
    cookie = await _start_session(client, base="0")
    await _round(client, gate, cookie, {"a": "k_a=1", "b": "k_b=1"}, ["a", "b"])
    data = (await client.get("/peek", cookie=cookie)).json["data"]
    assert data == {"base": "0", "k_a": "1", "k_b": "1"}  # each write re-read the record


@pytest.mark.gen_test
@pytest.mark.parametrize("store", ["whole-record"], indirect=True)
async def test_a_store_without_atomic_writes_loses_a_change_made_between_its_read_and_write(
    client: Any, gate: Gate, store: WholeRecordStore
) -> None:
    cookie = await _start_session(client, base="0")
    store.hold_saves(2)  # both requests read the record before either writes it back
    gate.expect(2)
    replies = [
        asyncio.ensure_future(client.get(f"/gated?name={name}&k_{name}=1", cookie=cookie))
        for name in ("a", "b")
    ]
    await gate.all_loaded.wait()
    gate.release("a")
    gate.release("b")
    assert all(reply.status == 200 for reply in await asyncio.gather(*replies))
    data = (await client.get("/peek", cookie=cookie)).json["data"]
    assert len(data) == 2 and data["base"] == "0"  # documented: the later whole save wins


# -- logout and login must stick -----------------------------------------------------


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
async def test_a_request_running_during_logout_cannot_bring_the_session_back(
    client: Any, gate: Gate, store: Store | str
) -> None:
    cookie = await _start_session(client, user="alice")
    replies = await _round(
        client, gate, cookie, {"logout": "op=destroy", "slow": "k=1"}, ["logout", "slow"]
    )
    assert replies["logout"].clears_cookie
    assert replies["slow"].status == 200
    assert replies["slow"].clears_cookie  # its delta found no record: cookie dropped
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
@pytest.mark.parametrize("op", ["flush", "save"])
@pytest.mark.parametrize(
    "session_options", [{}, {"resave": True}, {"touch_after": 0}], indirect=True
)
async def test_a_request_that_streams_or_saves_during_logout_cannot_bring_it_back(
    client: Any, gate: Gate, store: Store | str, session_options: SessionOptions, op: str
) -> None:
    # The first commit (the flush's, or save()'s) finds the record gone; the commit at
    # finish() must not then write it back as if it were new.
    cookie = await _start_session(client, user="alice")
    replies = await _round(
        client, gate, cookie, {"logout": "op=destroy", "slow": f"op={op}&k=1"}, ["logout", "slow"]
    )
    assert replies["slow"].status == 200
    assert replies["slow"].session_cookie is None  # the old cookie is never re-sent
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}, f"logout undone by {op}"


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
@pytest.mark.parametrize("session_options", [{"touch_after": 0}], indirect=True)
async def test_a_read_only_streaming_request_during_logout_cannot_bring_it_back(
    client: Any, gate: Gate, store: Store | str, session_options: SessionOptions
) -> None:
    cookie = await _start_session(client, user="alice")
    await _round(
        client, gate, cookie, {"logout": "op=destroy", "slow": "op=flush"}, ["logout", "slow"]
    )
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
@pytest.mark.parametrize("session_options", [{"resave": True}], indirect=True)
async def test_with_resave_a_request_running_during_logout_cannot_bring_it_back(
    client: Any, gate: Gate, store: Store | str, session_options: SessionOptions
) -> None:
    cookie = await _start_session(client, user="alice")
    await _round(client, gate, cookie, {"logout": "op=destroy", "idle": ""}, ["logout", "idle"])
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}, "logout was undone by resave"


@pytest.mark.gen_test
@pytest.mark.parametrize("store", ["whole-record"], indirect=True)
async def test_without_atomic_writes_a_logout_that_finished_first_still_sticks(
    client: Any, gate: Gate, store: Store | str
) -> None:
    # The fallback re-reads the record before writing: a logout that completed before
    # the slow request's commit is seen, and nothing is written back.
    cookie = await _start_session(client, user="alice")
    await _round(client, gate, cookie, {"logout": "op=destroy", "slow": "k=1"}, ["logout", "slow"])
    after = (await client.get("/peek", cookie=cookie)).json
    assert after["new"] is True and after["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", _delta_stores(), indirect=True)
async def test_a_request_running_during_login_cannot_revive_the_pre_login_id(
    client: Any, gate: Gate, store: Store | str
) -> None:
    cookie = await _start_session(client, cart="1")
    replies = await _round(
        client, gate, cookie, {"login": "op=regenerate", "slow": "k=1"}, ["login", "slow"]
    )
    new_cookie = replies["login"].session_cookie
    assert new_cookie and new_cookie != cookie
    old = (await client.get("/peek", cookie=cookie)).json
    assert old["new"] is True and old["data"] == {}  # the pre-login id stays dead
    new = (await client.get("/peek", cookie=new_cookie)).json
    assert new["data"] == {"cart": "1", "user": "alice"}
