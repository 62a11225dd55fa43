"""Replayed cookies after expiry: timeouts are enforced on the server, not by the cookie.

Owns the idle-timeout and absolute-timeout rows of SECURITY.md (OWASP "session
expiration", ASVS 3.3.1/3.3.2, 7.3.1/7.3.2).  Time is moved by rewriting the stored
record (or the store's clock), never by sleeping.  A browser that ignores the
cookie's Max-Age (or an attacker replaying an old cookie) must get an anonymous
session once the server-side limit has passed, even from a store that forgot to
check expiry itself.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tornado_sessions import MemoryStore, Record, SessionOptions
from tornado_sessions.meta import Meta, pack_meta

SECRET = "security-suite-secret-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class ExpiryBlindStore(MemoryStore):
    """Returns records whatever their expiry: the core must check it again."""

    async def load(self, key: str) -> Record | None:
        return self._records.get(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(request: pytest.FixtureRequest, clock: Clock) -> MemoryStore:
    if getattr(request, "param", "") == "expiry-blind":
        return ExpiryBlindStore()
    return MemoryStore(clock=clock)


@pytest.fixture
def session_options(request: pytest.FixtureRequest, store: MemoryStore) -> SessionOptions:
    extra = {"max_age": 1800, **getattr(request, "param", {})}
    return SessionOptions(secret=SECRET, store=store, **extra)


def _rewrite(store: MemoryStore, *, expires_in: float | None = None, created_ago: float = 0):
    """Make the only stored record look older than it is."""
    ((key, record),) = store._records.items()
    meta = pack_meta(Meta(time.time() - created_ago)) if created_ago else record.meta
    expires = record.expires_at if expires_in is None else time.time() + expires_in
    store._records[key] = Record(record.fields, meta, expires)
    return key


async def _logged_in(client: Any) -> str:
    reply = await client.get("/login?user=alice")
    assert reply.status == 200 and reply.session_cookie
    return reply.session_cookie


@pytest.mark.gen_test
async def test_an_idle_session_is_dead_after_max_age_whatever_the_browser_keeps(
    client: Any, store: MemoryStore, clock: Clock
) -> None:
    cookie = await _logged_in(client)
    assert (await client.get("/peek", cookie=cookie)).json["data"] == {"user": "alice"}
    clock.offset = 1801  # 30 min + 1 s of idleness, as the store sees it
    reply = await client.get("/peek", cookie=cookie)
    assert reply.json["new"] is True and reply.json["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("store", ["expiry-blind"], indirect=True)
async def test_an_expired_record_is_refused_even_if_the_store_returns_it(
    client: Any, store: MemoryStore
) -> None:
    cookie = await _logged_in(client)
    _rewrite(store, expires_in=-1)
    reply = await client.get("/peek", cookie=cookie)
    assert reply.json["new"] is True and reply.json["data"] == {}
    assert store._records == {}  # and it is deleted


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "session_options", [{"absolute_timeout": 8 * 3600, "touch_after": 0}], indirect=True
)
async def test_absolute_timeout_ends_even_an_active_session(
    client: Any, store: MemoryStore, session_options: SessionOptions
) -> None:
    cookie = await _logged_in(client)
    # Active all along (the record was just touched), but created 8 h + 1 s ago.
    _rewrite(store, expires_in=1000, created_ago=8 * 3600 + 1)
    reply = await client.get("/peek", cookie=cookie)
    assert reply.json["new"] is True and reply.json["data"] == {}
    assert store._records == {}


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "session_options", [{"absolute_timeout": 100, "touch_after": 0}], indirect=True
)
async def test_touching_cannot_carry_a_session_past_its_absolute_timeout(
    client: Any, store: MemoryStore, session_options: SessionOptions
) -> None:
    cookie = await _logged_in(client)
    _rewrite(store, created_ago=90, expires_in=5)  # 90 s in, last touched a while ago
    reply = await client.get("/peek", cookie=cookie)  # touch_after=0: a touch every request
    assert reply.json["new"] is False
    ((_, record),) = store._records.items()
    # The touch extended it, but only up to created_at + 100, not by max_age (1800 s).
    assert time.time() + 5 < record.expires_at <= time.time() + 10
    assert int(reply.cookie_attributes["max-age"]) <= 10


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"absolute_timeout": 600}], indirect=True)
async def test_the_cookie_never_outlives_the_server_side_limit(
    client: Any, session_options: SessionOptions
) -> None:
    reply = await client.get("/login?user=alice")
    assert int(reply.cookie_attributes["max-age"]) <= 600  # max_age is 1800, absolute 600


@pytest.mark.gen_test
async def test_a_replayed_cookie_after_logout_is_anonymous(client: Any) -> None:
    cookie = await _logged_in(client)
    reply = await client.get("/logout", cookie=cookie)
    assert reply.clears_cookie
    after = await client.get("/peek", cookie=cookie)
    assert after.json["new"] is True and after.json["data"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"absolute_timeout": 3600}], indirect=True)
async def test_handlers_can_read_when_the_session_ends(
    client: Any, session_options: SessionOptions
) -> None:
    # What an app needs for its own idle-timeout warning or re-authentication rule.
    cookie = await _logged_in(client)
    body = (await client.get("/peek", cookie=cookie)).json
    now = time.time()
    assert now - 5 < body["created_at"] <= now
    assert now + 1790 < body["expires_at"] <= now + 1800  # idle limit: max_age=1800
