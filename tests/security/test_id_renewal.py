"""Id renewal (``rotate_after`` / ``rotate_grace``): new ids for old sessions, a grace for the old.

Owns the "renewal timeout" evidence of SECURITY.md.  Instead of waiting for
``rotate_after`` to pass, a test makes a session's id old by rewriting the time it
was issued in its stored meta, through the store's own API.  Memory, Redis and
MongoDB stores, over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
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
    sessions_of,
)
from tornado_sessions.ids import store_key
from tornado_sessions.meta import pack_meta, unpack_meta
from tornado_sessions.rotation import stub_key

from .conftest import Client

SECRET = "security-suite-secret-0123456789abcdef"
HOUR = 3600.0


class _Login(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        session["user"] = "alice"
        session.owner = "alice"
        self.write({"id": session.id})


class _Peek(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class _Put(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        for name in self.request.arguments:
            session[name] = self.get_argument(name)
        self.write({"id": session.id})


class _Logout(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.write({})


class _Slow(SessionMixin, tornado.web.RequestHandler):
    """Loads the session, waits for the test, then writes (or logs out)."""

    async def get(self) -> None:
        session = await self.get_session()
        self.settings["loaded"].set()
        await self.settings["release"].wait()
        if self.get_argument("logout", None):
            await session.destroy()
        else:
            session["upload"] = "done"
        self.write({"id": session.id})


class _Streamed(SessionMixin, tornado.web.RequestHandler):
    """Flushes before it first asks for the session."""

    async def get(self) -> None:
        self.write("part one;")
        await self.flush()
        session = await self.get_session()
        self.write(f"user={session.get('user')};id={session.id}")


HANDLERS = [
    (r"/login", _Login),
    (r"/peek", _Peek),
    (r"/put", _Put),
    (r"/logout", _Logout),
    (r"/slow", _Slow),
    (r"/streamed", _Streamed),
]


@pytest.fixture(params=["memory", "redis", "mongo"])
def store(request: pytest.FixtureRequest) -> Store | str:
    unique = uuid.uuid4().hex[:12]
    if request.param == "redis":
        return request.getfixturevalue("security_redis_url") + f"?prefix=rot{unique}:"
    if request.param == "mongo":
        return request.getfixturevalue("security_mongo_url") + f"security?collection=r{unique}"
    return MemoryStore()


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"rotate_after": HOUR, **getattr(request, "param", {})}


@pytest.fixture
def app(
    store: Store | str, options: dict[str, Any], io_loop: Any
) -> Iterator[tornado.web.Application]:
    application = tornado.web.Application(
        HANDLERS,
        sessions=SessionOptions(secret=SECRET, store=store, **options),
        loaded=asyncio.Event(),
        release=asyncio.Event(),
    )
    yield application
    io_loop.run_sync(lambda: close_sessions(application))


def _store_of(app: tornado.web.Application) -> Store:
    from tornado_sessions.startup import session_runtime

    runtime = session_runtime(app)
    assert runtime is not None
    return runtime.store


async def _age_the_id(app: tornado.web.Application, session_id: str, by: float) -> None:
    """Make the session's id ``by`` seconds older, as if issued that long ago."""
    store = _store_of(app)
    key = store_key(session_id, True)
    record = await store.load(key)
    assert record is not None
    meta = unpack_meta(record.meta, time.time())
    older = pack_meta(meta._replace(issued_at=meta.issued_at - by))
    await store.save(key, Record(record.fields, older, record.expires_at, record.owner))


async def _login_with_an_old_id(client: Client, app: tornado.web.Application) -> tuple[str, str]:
    reply = await client.get("/login")
    assert reply.status == 200 and reply.session_cookie
    await _age_the_id(app, reply.json["id"], 2 * HOUR)
    return reply.session_cookie, reply.json["id"]


@pytest.mark.gen_test(timeout=30)
async def test_an_old_id_is_renewed_on_its_next_request_with_the_data_kept(
    client: Client, app: tornado.web.Application
) -> None:
    cookie, old_id = await _login_with_an_old_id(client, app)
    reply = await client.get("/peek", cookie=cookie)
    assert reply.status == 200 and reply.json["data"] == {"user": "alice"}
    assert reply.json["id"] != old_id and not reply.json["new"]
    assert reply.session_cookie and reply.session_cookie != cookie
    again = await client.get("/peek", cookie=reply.session_cookie)
    assert again.json["id"] == reply.json["id"] and again.session_cookie is None  # renewed once


@pytest.mark.gen_test(timeout=30)
async def test_a_young_id_is_not_renewed(client: Client, app: tornado.web.Application) -> None:
    reply = await client.get("/login")
    cookie, session_id = reply.session_cookie, reply.json["id"]
    reply = await client.get("/peek", cookie=cookie)
    assert reply.json["id"] == session_id and reply.session_cookie is None


@pytest.mark.gen_test(timeout=30)
async def test_requests_with_the_old_cookie_keep_working_inside_the_grace(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    renewed = await client.get("/peek", cookie=old_cookie)
    new_id, new_cookie = renewed.json["id"], renewed.session_cookie
    # Another tab, still on the old cookie, writes: it lands in the renewed session.
    reply = await client.get("/put?cart=apples", cookie=old_cookie)
    assert reply.status == 200 and reply.json["id"] == new_id
    assert reply.session_cookie == new_cookie  # and that tab gets the new cookie too
    reply = await client.get("/peek", cookie=new_cookie)
    assert reply.json["data"] == {"user": "alice", "cart": "apples"}


@pytest.mark.gen_test(timeout=30)
async def test_a_write_in_flight_across_the_renewal_lands_in_the_renewed_session(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, old_id = await _login_with_an_old_id(client, app)
    slow = asyncio.ensure_future(client.get("/slow", cookie=old_cookie))
    await app.settings["loaded"].wait()  # it loaded the session before the renewal
    renewed = await client.get("/peek", cookie=old_cookie)
    new_id, new_cookie = renewed.json["id"], renewed.session_cookie
    assert new_id != old_id
    app.settings["release"].set()
    reply = await slow
    assert reply.status == 200 and reply.json["id"] == new_id
    assert reply.session_cookie == new_cookie  # the browser ends on the new id either way
    after = await client.get("/peek", cookie=new_cookie)
    assert after.json["data"] == {"user": "alice", "upload": "done"}  # nothing acknowledged lost
    assert await _store_of(app).load(store_key(old_id, True)) is None


@pytest.mark.gen_test(timeout=30)
async def test_a_logout_in_flight_across_the_renewal_ends_the_renewed_session(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    slow = asyncio.ensure_future(client.get("/slow?logout=1", cookie=old_cookie))
    await app.settings["loaded"].wait()
    new_cookie = (await client.get("/peek", cookie=old_cookie)).session_cookie
    app.settings["release"].set()
    await slow
    for cookie in (old_cookie, new_cookie):
        assert (await client.get("/peek", cookie=cookie)).json["new"] is True


@pytest.mark.gen_test(timeout=30)
async def test_no_renewal_once_the_headers_went_out(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, old_id = await _login_with_an_old_id(client, app)
    reply = await client.get("/streamed", cookie=old_cookie)
    assert reply.body == f"part one;user=alice;id={old_id}".encode()  # not renewed: no cookie
    renewed = await client.get("/peek", cookie=old_cookie)  # the next request renews it
    assert renewed.json["id"] != old_id and renewed.session_cookie


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("options", [{"rotate_grace": 0}], indirect=True)
async def test_after_the_grace_the_old_id_is_refused(
    client: Client, app: tornado.web.Application, options: dict[str, Any]
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    renewed = await client.get("/peek", cookie=old_cookie)
    assert renewed.json["data"] == {"user": "alice"}
    reply = await client.get("/peek", cookie=old_cookie)
    assert reply.json["new"] is True and reply.json["data"] == {}
    reply = await client.get("/peek", cookie=renewed.session_cookie)
    assert reply.json["data"] == {"user": "alice"}


@pytest.mark.gen_test(timeout=30)
async def test_the_stub_left_behind_does_not_reveal_the_new_id(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, old_id = await _login_with_an_old_id(client, app)
    new_id = (await client.get("/peek", cookie=old_cookie)).json["id"]
    store = _store_of(app)
    assert await store.load(store_key(old_id, True)) is None  # the old record is gone
    stub = await store.load(stub_key(store_key(old_id, True)))
    assert stub is not None
    dumped = b"".join(stub.fields.values()) + stub.meta
    for secret in (new_id, store_key(new_id, True)):
        assert secret.encode() not in dumped
    assert stub.owner is None  # never listed among the user's sessions


@pytest.mark.gen_test(timeout=30)
async def test_a_renewed_session_is_listed_once_under_its_owner(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    await client.get("/peek", cookie=old_cookie)
    if "owner_sessions" not in _store_of(app).capabilities:
        return  # this store keeps no owner index
    assert len(await sessions_of(app, "alice")) == 1


@pytest.mark.gen_test(timeout=30)
async def test_a_logout_after_renewal_ends_the_session_for_the_old_cookie_too(
    client: Client, app: tornado.web.Application
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    new_cookie = (await client.get("/peek", cookie=old_cookie)).session_cookie
    await client.get("/logout", cookie=new_cookie)
    for cookie in (old_cookie, new_cookie):
        assert (await client.get("/peek", cookie=cookie)).json["new"] is True


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    "options",
    [{"encryption_keys": [base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()]}],
    indirect=True,
)
async def test_encrypted_values_survive_renewal(
    client: Client, app: tornado.web.Application, options: dict[str, Any]
) -> None:
    old_cookie, _ = await _login_with_an_old_id(client, app)
    renewed = await client.get("/peek", cookie=old_cookie)
    assert renewed.json["data"] == {"user": "alice"}
    reply = await client.get("/peek", cookie=renewed.session_cookie)
    assert reply.json["data"] == {"user": "alice"}


class _HoldingStore(MemoryStore):
    """Holds the renewal's first write until the test has logged the session out."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def save(self, key: str, record: Any) -> None:
        await super().save(key, record)
        if self.holding:
            self.holding = False
            self.held.set()
            await self.release.wait()


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_a_logout_during_renewal_is_not_undone(
    client: Client, app: tornado.web.Application
) -> None:
    holding = _HoldingStore()
    app.settings["sessions"] = SessionOptions(secret=SECRET, store=holding, rotate_after=HOUR)
    old_cookie, old_id = await _login_with_an_old_id(client, app)
    holding.holding = True
    renewing = asyncio.ensure_future(client.get("/peek", cookie=old_cookie))
    await holding.held.wait()  # the new record is written; the stub is not yet
    await holding.destroy(store_key(old_id, True))  # a logout elsewhere
    holding.release.set()
    reply = await renewing
    assert reply.json["new"] is True and reply.json["data"] == {}
    assert await holding.count() == 0  # the new record was deleted again
