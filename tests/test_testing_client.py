"""``tornado_sessions.testing.SessionClient``: the helper app developers test their handlers with.

Owns: the cookie jar (kept from real ``Set-Cookie`` headers, removed by
``Max-Age=0``, followed through redirects, ``_xsrf`` supplied for forms);
``start_session()`` planting a session a handler then sees, with its lifetime;
``session()`` reading one back without writing; ``session_transaction()``
changing one between requests (and saving nothing when the block raises); the
same client under ``AsyncHTTPTestCase``; and that importing
``tornado_sessions.testing`` does not import pytest while ``StoreContract`` is
still importable from it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import tornado.escape
import tornado.httputil
import tornado.testing
import tornado.web

from tests.conftest import CountingStore
from tornado_sessions import SessionMixin, SessionOptions
from tornado_sessions.testing import SessionClient

SECRET = "t" * 32


class Whoami(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"user": session.get("user"), "max_age": session.max_age})


class Count(SessionMixin, tornado.web.RequestHandler):
    async def post(self) -> None:
        session = await self.get_session()
        session["count"] = session.get("count", 0) + int(self.get_argument("by", "1"))
        self.redirect("/whoami")


class Logout(SessionMixin, tornado.web.RequestHandler):
    async def post(self) -> None:
        await (await self.get_session()).destroy()


HANDLERS: list[Any] = [(r"/whoami", Whoami), (r"/count", Count), (r"/logout", Logout)]


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def app(store: CountingStore) -> tornado.web.Application:
    return tornado.web.Application(
        HANDLERS, sessions=SessionOptions(secret=SECRET, store=store), xsrf_cookies=True
    )


@pytest.fixture
def client(app: tornado.web.Application, base_url: str, http_server: Any) -> SessionClient:
    return SessionClient(app, base_url)


@pytest.mark.gen_test
async def test_start_session_plants_a_session_the_handler_sees(client: SessionClient) -> None:
    assert client.session_cookie is None
    await client.start_session({"user": "alice"})
    assert client.session_cookie is not None
    response = await client.fetch("/whoami")
    body = tornado.escape.json_decode(response.body)
    assert body["user"] == "alice"
    assert 14 * 86400 - 60 < body["max_age"] <= 14 * 86400  # the options' max_age


@pytest.mark.gen_test
async def test_start_session_with_its_own_lifetime(client: SessionClient) -> None:
    await client.start_session({"user": "bob"}, max_age=600)
    body = tornado.escape.json_decode((await client.fetch("/whoami")).body)
    assert 590 < body["max_age"] <= 600


@pytest.mark.gen_test
async def test_start_session_replaces_the_previous_one(client: SessionClient) -> None:
    await client.start_session({"user": "alice", "cart": [1]})
    first = client.session_cookie
    await client.start_session({"user": "carol"})
    assert client.session_cookie != first
    assert await client.session() == {"user": "carol"}
    stale = SessionClient(client.app, client.base_url)
    stale.cookies["sessionid"] = first or ""
    assert await stale.session() is None  # the old record is gone


@pytest.mark.gen_test
async def test_session_reads_what_a_request_wrote_and_writes_nothing(
    client: SessionClient, store: CountingStore
) -> None:
    assert await client.session() is None
    response = await client.fetch("/count", form={"by": "2"}, follow_redirects=True)
    assert response.code == 200  # the redirect was followed with the new cookie
    assert await client.session() == {"count": 2}
    writes = store.calls["save"] + store.calls["save_changes"] + store.calls["touch"]
    assert await client.session() == {"count": 2}
    assert store.calls["save"] + store.calls["save_changes"] + store.calls["touch"] == writes


@pytest.mark.gen_test
async def test_session_transaction_changes_the_session_between_requests(
    client: SessionClient,
) -> None:
    await client.fetch("/count", form={})
    async with client.session_transaction() as session:
        assert session["count"] == 1
        session["count"] = 41
        session["user"] = "dave"
    await client.fetch("/count", form={})
    assert await client.session() == {"count": 42, "user": "dave"}


@pytest.mark.gen_test
async def test_session_transaction_that_raises_saves_nothing(client: SessionClient) -> None:
    await client.start_session({"user": "erin"})
    with pytest.raises(RuntimeError):
        async with client.session_transaction() as session:
            session["user"] = "mallory"
            raise RuntimeError("test failed half-way")
    assert await client.session() == {"user": "erin"}


@pytest.mark.gen_test
async def test_a_cleared_cookie_leaves_the_jar(client: SessionClient) -> None:
    await client.start_session({"user": "frank"})
    response = await client.fetch("/logout", form={})
    assert response.code == 200
    assert client.session_cookie is None and "_xsrf" in client.cookies
    assert await client.session() is None


@pytest.mark.gen_test
async def test_end_session_logs_the_client_out(client: SessionClient) -> None:
    await client.start_session({"user": "grace"})
    await client.end_session()
    assert client.session_cookie is None
    body = tornado.escape.json_decode((await client.fetch("/whoami")).body)
    assert body["user"] is None


class TestWithAsyncHTTPTestCase(tornado.testing.AsyncHTTPTestCase):
    """The same helper in a unittest-style test case."""

    def get_app(self) -> tornado.web.Application:
        self.app = tornado.web.Application(HANDLERS, sessions=SessionOptions(secret=SECRET))
        return self.app

    @tornado.testing.gen_test
    async def test_plant_then_fetch(self) -> None:
        client = SessionClient(self.app, self.get_url(""), http_client=self.http_client)
        await client.start_session({"user": "heidi"})
        response = await client.fetch("/whoami")
        self.assertEqual(tornado.escape.json_decode(response.body)["user"], "heidi")
        await client.fetch("/count", method="POST", body="")
        self.assertEqual(await client.session(), {"user": "heidi", "count": 1})


def test_importing_the_testing_package_does_not_import_pytest() -> None:
    code = (
        "import sys, tornado_sessions.testing as t; "
        "assert 'pytest' not in sys.modules, 'pytest imported'; "
        "assert t.SessionClient; "
        "from tornado_sessions.testing import StoreContract; "
        "assert 'pytest' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gen_test
async def test_the_jar_follows_max_age_expires_and_domain(app: tornado.web.Application) -> None:
    client = SessionClient(app, "http://app.example.com:8000")
    headers = tornado.httputil.HTTPHeaders()
    headers.add("Set-Cookie", "a=1; Path=/; Max-Age=60")
    headers.add("Set-Cookie", "b=2; Expires=Thu, 01 Jan 2099 00:00:00 GMT")
    headers.add("Set-Cookie", "c=3; Domain=example.com")
    headers.add("Set-Cookie", "d=4; Domain=other.example")  # not for this host: ignored
    client.take_cookies(headers)
    assert client.cookies == {"a": "1", "b": "2", "c": "3"}
    gone = tornado.httputil.HTTPHeaders()
    gone.add("Set-Cookie", "a=; Max-Age=0")
    gone.add("Set-Cookie", "b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    gone.add("Set-Cookie", "c=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60")  # Max-Age wins
    client.take_cookies(gone)
    assert client.cookies == {"c": "x"}
    assert client.url("/x") == "http://app.example.com:8000/x"
    assert client.url("https://elsewhere/") == "https://elsewhere/"
