"""A user's sessions: listing, "log out everywhere", ending one device, the per-owner cap.

Owns the evidence for OWASP "terminate other sessions" and ASVS 3.3.3, 3.3.4, 7.4.2,
7.4.3, 7.4.5 and 7.5.2 in SECURITY.md.  Real requests to a real server; the store
is wrapped to count its calls, so "only that owner's records" is measured, not
assumed.

Every test runs on the memory store, on a real Redis server and on a real Redis
Cluster (three masters; the owner index and the sessions live in different
slots), each wrapped the same way to count its calls.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.web

from tornado_sessions import (
    ConfigurationError,
    MemoryStore,
    SessionMixin,
    SessionOptions,
    end_session,
    end_sessions,
    open_sessions,
    sessions_of,
)

SECRET = "security-suite-secret-0123456789abcdef"


class Counting:
    """Counts a store's calls by operation and the keys each touched (mixed in first)."""

    calls: Counter[str]
    touched: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = Counter()
        self.touched = []

    async def load(self, key: str) -> Any:
        self.calls["load"] += 1
        self.touched.append(key)
        return await super().load(key)

    async def destroy(self, key: str) -> None:
        self.calls["destroy"] += 1
        self.touched.append(key)
        await super().destroy(key)

    async def owner_sessions(self, owner: str) -> Any:
        self.calls["owner_sessions"] += 1
        return await super().owner_sessions(owner)

    def keys(self) -> Any:
        self.calls["keys"] += 1
        return super().keys()


class CountingStore(Counting, MemoryStore):
    """The memory store, counting calls by operation and the keys each touched."""


class NoIndexStore(MemoryStore):
    """A store that keeps no owner index (as a third-party store may)."""


NoIndexStore.capabilities = frozenset(NoIndexStore.capabilities - {"owner_sessions"})


class _Login(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        user = self.get_argument("user")
        session["user"] = user
        session.owner = user
        self.write({"id": session.id, "handle": session.handle})


class _Whoami(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"user": session.get("user"), "new": session.is_new})


class _Devices(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        listed = await sessions_of(self.application, session["user"], current=session)
        self.write({"sessions": [entry._asdict() for entry in listed]})


class _EndOthers(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        ended = await end_sessions(self.application, session["user"], keep=session)
        self.write({"ended": ended})


class _EndOne(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        handle = self.get_argument("handle")
        try:
            ended = await end_session(self.application, handle, owner=session.get("user"))
        except ValueError:
            self.set_status(400)
            ended = False
        self.write({"ended": ended})


class _EndOthersByOwnerProperty(SessionMixin, tornado.web.RequestHandler):
    """Passes ``session.owner`` (the stored hash) back, as a handler may well do."""

    async def get(self) -> None:
        session = await self.get_session()
        listed = await sessions_of(self.application, session.owner)
        ended = await end_sessions(self.application, session.owner, keep=session)
        self.write({"listed": len(listed), "ended": ended, "mine": session.owned_by(session.owner)})


class _Put(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        session["cart"] = self.get_argument("cart")
        self.write({"user": session.get("user")})


class _Slow(SessionMixin, tornado.web.RequestHandler):
    """Loads the session, waits for the test, then writes to it."""

    async def get(self) -> None:
        session = await self.get_session()
        self.settings["loaded"].set()
        await self.settings["release"].wait()
        session["late"] = "write"
        self.write({"user": session.get("user")})


HANDLERS = [
    (r"/login", _Login),
    (r"/whoami", _Whoami),
    (r"/devices", _Devices),
    (r"/end-others", _EndOthers),
    (r"/end", _EndOne),
    (r"/end-others-by-property", _EndOthersByOwnerProperty),
    (r"/slow", _Slow),
    (r"/put", _Put),
]


@pytest.fixture(scope="module")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis Cluster (three masters, no replicas) for this module."""
    from tornado_sessions_redis.testing import redis_server_binary, start_cluster

    root: Path = tmp_path_factory.mktemp("owners-cluster")
    cluster = start_cluster(redis_server_binary(), root, masters=3, replicas=0)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(params=["memory", "redis", "redis-cluster", "mongo", "sqlite"], autouse=True)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store every test runs on (autouse: pytest-tornado asks for ``app`` late)."""
    return str(request.param)


@pytest.fixture
def store(request: pytest.FixtureRequest, store_kind: str) -> Iterator[Any]:
    """The store under test, counting its calls; Redis ones under a prefix of their own."""
    if store_kind == "memory":
        yield CountingStore()
        return
    if store_kind in ("mongo", "sqlite"):
        if store_kind == "mongo":
            from tornado_sessions_mongo import MongoStore as Base

            url = request.getfixturevalue("security_mongo_url")
            target = f"{url}owners?collection=o{uuid.uuid4().hex[:12]}"
        else:
            from tornado_sessions_sqlite import SQLiteStore as Base  # type: ignore[assignment]

            target = f"sqlite:///{request.getfixturevalue('tmp_path')}/sessions.db"

        class CountingOtherStore(Counting, Base):  # type: ignore[valid-type,misc]
            """The store under test, counting calls like :class:`CountingStore`."""

        other = CountingOtherStore(target, timeout=5.0)
        loop = request.getfixturevalue("io_loop")
        loop.run_sync(other.open)
        yield other
        loop.run_sync(other.close)
        return
    from tornado_sessions_redis import RedisStore

    class CountingRedisStore(Counting, RedisStore):
        """The Redis store, counting calls like :class:`CountingStore`."""

    if store_kind == "redis":
        url = request.getfixturevalue("security_redis_url")
    else:
        url = request.getfixturevalue("redis_cluster_url")
    store = CountingRedisStore(url, prefix=f"owners:{uuid.uuid4().hex[:12]}:", timeout=5.0)
    yield store
    request.getfixturevalue("io_loop").run_sync(store.close)


@pytest.fixture
def options(request: pytest.FixtureRequest, store: CountingStore) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def app(store: CountingStore, options: dict[str, Any]) -> tornado.web.Application:
    return tornado.web.Application(
        HANDLERS,
        sessions=SessionOptions(secret=SECRET, store=store, **options),
        loaded=asyncio.Event(),
        release=asyncio.Event(),
    )


async def _get(http_client: Any, base_url: str, path: str, cookie: str | None = None) -> Any:
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    response = await http_client.fetch(base_url + path, headers=headers, raise_error=False)
    assert response.code == 200, (path, response.code, response.body)
    set_cookie = [c for c in response.headers.get_list("Set-Cookie") if c.startswith("sessionid=")]
    value = set_cookie[0].split(";", 1)[0].split("=", 1)[1] if set_cookie else None
    return json.loads(response.body), value


async def _login(http_client: Any, base_url: str, user: str) -> tuple[str, str]:
    body, cookie = await _get(http_client, base_url, f"/login?user={user}")
    assert cookie
    return cookie, body["handle"]


@pytest.mark.gen_test
async def test_sessions_of_lists_the_owners_sessions_and_marks_the_callers(
    http_client: Any, base_url: str
) -> None:
    alice = [await _login(http_client, base_url, "alice") for _ in range(3)]
    await _login(http_client, base_url, "bob")
    body, _ = await _get(http_client, base_url, "/devices", alice[1][0])
    listed = body["sessions"]
    assert sorted(entry["handle"] for entry in listed) == sorted(h for _, h in alice)
    assert [entry["current"] for entry in listed].count(True) == 1
    current = next(entry for entry in listed if entry["current"])
    assert current["handle"] == alice[1][1]
    for entry in listed:
        assert entry["created_at"] <= entry["last_active"] < entry["expires_at"]


@pytest.mark.gen_test
async def test_listing_and_ending_touch_only_that_owners_records(
    http_client: Any, base_url: str, app: tornado.web.Application, store: CountingStore
) -> None:
    for user in ("bob", "carol", "dave"):
        await _login(http_client, base_url, user)
    alice = [await _login(http_client, base_url, "alice") for _ in range(3)]
    alice_keys = {handle for _, handle in alice}  # with hash_ids the handle is the key
    store.calls.clear()
    store.touched.clear()
    listed = await sessions_of(app, "alice")
    assert len(listed) == 3
    assert store.calls == Counter({"owner_sessions": 1})  # one index read, no scan
    ended = await end_sessions(app, "alice")
    assert ended == 3
    assert store.calls == Counter({"owner_sessions": 2, "destroy": 3})
    assert set(store.touched) == alice_keys
    assert await store.count() == 3  # bob's, carol's and dave's are untouched


@pytest.mark.gen_test
async def test_log_out_everywhere_else_keeps_only_the_callers_session(
    http_client: Any, base_url: str
) -> None:
    here, phone, laptop = [(await _login(http_client, base_url, "alice"))[0] for _ in range(3)]
    bob, _ = await _login(http_client, base_url, "bob")
    body, _ = await _get(http_client, base_url, "/end-others", here)
    assert body == {"ended": 2}
    for cookie in (phone, laptop):
        body, _ = await _get(http_client, base_url, "/whoami", cookie)
        assert body == {"user": None, "new": True}
    for cookie, user in ((here, "alice"), (bob, "bob")):
        body, _ = await _get(http_client, base_url, "/whoami", cookie)
        assert body == {"user": user, "new": False}


@pytest.mark.gen_test
async def test_a_device_is_ended_by_its_handle_only_by_its_owner(
    http_client: Any, base_url: str
) -> None:
    alice_here, _ = await _login(http_client, base_url, "alice")
    alice_phone, phone_handle = await _login(http_client, base_url, "alice")
    mallory, _ = await _login(http_client, base_url, "mallory")
    body, _ = await _get(http_client, base_url, f"/end?handle={phone_handle}", mallory)
    assert body == {"ended": False}  # not mallory's session: left alone
    assert (await _get(http_client, base_url, "/whoami", alice_phone))[0]["user"] == "alice"
    body, _ = await _get(http_client, base_url, f"/end?handle={phone_handle}", alice_here)
    assert body == {"ended": True}
    assert (await _get(http_client, base_url, "/whoami", alice_phone))[0]["new"] is True


@pytest.mark.gen_test
async def test_a_request_in_flight_cannot_bring_back_an_ended_session(
    http_client: Any, base_url: str, app: tornado.web.Application, store: CountingStore
) -> None:
    cookie, handle = await _login(http_client, base_url, "alice")
    slow = asyncio.ensure_future(_get(http_client, base_url, "/slow", cookie))
    await app.settings["loaded"].wait()
    assert await end_sessions(app, "alice") == 1
    app.settings["release"].set()
    body, _ = await slow
    assert body == {"user": "alice"}  # it had loaded before the end
    assert await store.load(handle) is None  # and its write did not recreate the record
    assert (await _get(http_client, base_url, "/whoami", cookie))[0]["new"] is True


@pytest.mark.gen_test
@pytest.mark.parametrize("options", [{"max_sessions_per_owner": 2}], indirect=True)
async def test_past_the_cap_the_least_recently_active_session_ends(
    http_client: Any, base_url: str, options: dict[str, Any]
) -> None:
    first, _ = await _login(http_client, base_url, "alice")
    second, _ = await _login(http_client, base_url, "alice")
    await _get(http_client, base_url, "/whoami", first)  # not recorded: within touch_after
    third, _ = await _login(http_client, base_url, "alice")
    users = [
        (await _get(http_client, base_url, "/whoami", cookie))[0]["user"]
        for cookie in (first, second, third)
    ]
    # Within touch_after (60 s) a read is not recorded in the store, so the store
    # knows first by its login, the oldest: first ends.
    assert users == [None, "alice", "alice"]


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "options", [{"max_sessions_per_owner": 2, "touch_after": 0}], indirect=True
)
async def test_the_cap_ends_the_least_recently_active_when_activity_is_recorded(
    http_client: Any, base_url: str, options: dict[str, Any]
) -> None:
    first, _ = await _login(http_client, base_url, "alice")
    second, _ = await _login(http_client, base_url, "alice")
    await _get(http_client, base_url, "/whoami", first)  # touch: first is the more active
    third, _ = await _login(http_client, base_url, "alice")
    alive = [
        (await _get(http_client, base_url, "/whoami", cookie))[0]["user"] == "alice"
        for cookie in (first, second, third)
    ]
    assert alive == [True, False, True]  # second was the least recently active


@pytest.mark.gen_test
@pytest.mark.parametrize("options", [{"max_sessions_per_owner": 2}], indirect=True)
async def test_the_cap_holds_under_concurrent_logins(
    http_client: Any, base_url: str, app: tornado.web.Application, options: dict[str, Any]
) -> None:
    logins = await asyncio.gather(
        *(_get(http_client, base_url, "/login?user=alice") for _ in range(8))
    )
    # A login whose own session the cap ended at once gets its cookie cleared (on a
    # store with real concurrency, as Redis); the others are checked by a request.
    alive = [
        bool(cookie)
        and (await _get(http_client, base_url, "/whoami", cookie))[0]["user"] == "alice"
        for _, cookie in logins
    ]
    assert 1 <= alive.count(True) <= 2
    assert len(await sessions_of(app, "alice")) == alive.count(True)


@pytest.mark.gen_test
@pytest.mark.parametrize("options", [{}, {"resave": True}, {"touch_after": 0}], indirect=True)
async def test_later_writes_keep_the_session_in_its_owners_index(
    http_client: Any, base_url: str, app: tornado.web.Application, options: dict[str, Any]
) -> None:
    cookie, handle = await _login(http_client, base_url, "alice")
    await _get(http_client, base_url, "/put?cart=apples", cookie)  # a delta write
    await _get(http_client, base_url, "/whoami", cookie)  # a read (touch or resave)
    assert [entry.handle for entry in await sessions_of(app, "alice")] == [handle]


@pytest.mark.gen_test
async def test_the_owner_is_stored_hashed(
    http_client: Any, base_url: str, store: CountingStore
) -> None:
    _, handle = await _login(http_client, base_url, "alice@example.com")
    record = await store.load(handle)
    assert record is not None and record.owner is not None
    assert "alice@example.com" not in record.owner
    assert b"alice@example.com" not in record.meta


@pytest.mark.gen_test
async def test_an_expired_session_is_never_listed(
    http_client: Any, base_url: str, app: tornado.web.Application, store: CountingStore
) -> None:
    _, gone = await _login(http_client, base_url, "alice")
    _, live = await _login(http_client, base_url, "alice")
    await store.touch(gone, 1.0)  # expired in 1970
    assert [entry.handle for entry in await sessions_of(app, "alice")] == [live]


@pytest.mark.gen_test
async def test_a_store_without_an_owner_index_says_so_and_never_scans() -> None:
    store = NoIndexStore()
    app = tornado.web.Application([], sessions=SessionOptions(secret=SECRET, store=store))
    await open_sessions(app)
    for call in (sessions_of(app, "alice"), end_sessions(app, "alice")):
        with pytest.raises(ConfigurationError, match="NoIndexStore keeps no index"):
            await call


@pytest.mark.gen_test
async def test_a_cap_on_a_store_without_an_owner_index_fails_at_start_up() -> None:
    app = tornado.web.Application(
        [], sessions=SessionOptions(secret=SECRET, store=NoIndexStore(), max_sessions_per_owner=2)
    )
    with pytest.raises(ConfigurationError, match="max_sessions_per_owner needs a store"):
        await open_sessions(app)


@pytest.mark.gen_test
async def test_an_anonymous_visitor_cannot_end_a_session_by_its_handle(
    http_client: Any, base_url: str
) -> None:
    alice, handle = await _login(http_client, base_url, "alice")
    headers: dict[str, str] = {}
    response = await http_client.fetch(
        f"{base_url}/end?handle={handle}", headers=headers, raise_error=False
    )
    assert response.code == 400  # owner=None is refused, not "no check"
    assert (await _get(http_client, base_url, "/whoami", alice))[0]["user"] == "alice"


@pytest.mark.gen_test
async def test_the_owner_read_back_from_the_session_finds_its_sessions(
    http_client: Any, base_url: str
) -> None:
    here, _ = await _login(http_client, base_url, "alice")
    phone, _ = await _login(http_client, base_url, "alice")
    body, _ = await _get(http_client, base_url, "/end-others-by-property", here)
    assert body == {"listed": 2, "ended": 1, "mine": True}
    assert (await _get(http_client, base_url, "/whoami", phone))[0]["new"] is True


def test_the_owner_and_the_cap_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_sessions_per_owner must be"):
        SessionOptions(secret=SECRET, max_sessions_per_owner=0)
