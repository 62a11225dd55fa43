"""The demo app (``make demo``, examples/app.py) over HTTP, driven by ``SessionClient``.

Owns what the demo promises without a browser: anonymous visitors cost no session
(no cookie, no store write, no store call at all without a cookie, so neither a
store outage nor a flood of anonymous requests hurts); the basket starts one;
a wrong password is shown in the form; login regenerates the id and keeps the
data; "remember me" picks the cookie's lifetime; ``@authenticated`` pages send
visitors to a login form that brings them back; logout ends the session.  The
Chromium suite (tests/browser) walks the same flows with screenshots.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from examples.app import PORT, REMEMBER_ME, demo_options, duration, make_app
from tests.conftest import CountingStore
from tornado_sessions import MemoryStore, SessionOptions
from tornado_sessions.testing import SessionClient

SECRET = "e" * 32


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def app(store: CountingStore) -> tornado.web.Application:
    return make_app(demo_options(secret=SECRET, store=store))


@pytest.fixture
def client(app: tornado.web.Application, base_url: str, http_server: Any) -> SessionClient:
    return SessionClient(app, base_url)


def session_cookies(response: Any) -> list[str]:
    return [h for h in response.headers.get_list("Set-Cookie") if h.startswith("sessionid=")]


def text(response: Any, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', response.body.decode(), re.S)
    assert match, f"no #{element_id} in the page"
    return match.group(1).strip()


def test_the_demo_listens_on_its_own_port() -> None:
    assert PORT == 8000  # the guide's examples use 8888: both can run at once


@pytest.mark.gen_test
async def test_anonymous_pages_store_nothing_and_set_no_session_cookie(
    client: SessionClient, store: CountingStore
) -> None:
    for path in ("/", "/", "/login", "/whoami"):
        response = await client.fetch(path)
        assert response.code == 200, path
        assert session_cookies(response) == []
    assert store.total() == 0
    page = await client.fetch("/")
    assert "secret" in text(page, "password-hint") or "<code>secret</code>" in page.body.decode()
    assert b'id="no-session"' in page.body


@pytest.mark.gen_test
async def test_a_store_outage_does_not_fail_a_first_visit(
    client: SessionClient, store: CountingStore
) -> None:
    store.fail = {"load", "save", "touch", "save_changes", "destroy"}
    assert (await client.fetch("/")).code == 200
    assert (await client.fetch("/login")).code == 200
    assert (await client.fetch("/login", form={"user": "a", "password": "x"})).code == 403
    assert (await client.fetch("/basket", form={"item": "pear"})).code == 503


@pytest.mark.gen_test
async def test_an_anonymous_flood_does_not_evict_a_logged_in_user() -> None:
    # One app with a store that holds only 50 sessions (the default holds 10,000).
    tiny = make_app(demo_options(secret=SECRET, store=MemoryStore(max_entries=50)))
    server = tornado.httpserver.HTTPServer(tiny)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        base = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        alice = SessionClient(tiny, base)
        await alice.fetch("/login", form={"user": "alice", "password": "secret"})
        for _ in range(500):
            visitor = SessionClient(tiny, base)
            assert session_cookies(await visitor.fetch("/")) == []
        assert (await alice.session() or {}).get("user") == "alice"
    finally:
        server.stop()


@pytest.mark.gen_test
async def test_a_wrong_password_is_shown_in_the_form_and_stores_nothing(
    client: SessionClient, store: CountingStore
) -> None:
    response = await client.fetch("/login", form={"user": "alice", "password": "nope"})
    assert response.code == 403
    assert text(response, "error") == "Wrong user name or password."
    assert b'id="login-form"' in response.body  # the form again, to try once more
    assert b'value="alice"' in response.body  # with the user name kept
    assert session_cookies(response) == [] and store.total() == 0


@pytest.mark.gen_test
async def test_the_basket_starts_a_session_and_emptying_it_ends_it(
    client: SessionClient, store: CountingStore
) -> None:
    response = await client.fetch("/basket", form={"item": "pear"})
    assert response.code == 302 and len(session_cookies(response)) == 1
    page = await client.fetch("/")
    assert text(page, "basket") == "pear"
    assert b"Added pear to your basket." in page.body  # the flash, shown once
    assert b"Added pear" not in (await client.fetch("/")).body
    assert await client.session() == {"basket": ["pear"]}
    assert "14 days" in text(page, "cookie-lifetime")

    response = await client.fetch("/basket/empty", form={})
    (cleared,) = session_cookies(response)
    assert "Max-Age=0" in cleared  # unset="destroy": an emptied session is deleted
    assert client.session_cookie is None and await client.session() is None
    assert store.calls["destroy"] == 1


@pytest.mark.gen_test
async def test_login_regenerates_keeps_the_basket_and_flashes_a_welcome(
    client: SessionClient,
) -> None:
    await client.fetch("/basket", form={"item": "plum"})
    anonymous = client.session_cookie
    response = await client.fetch("/login", form={"user": "alice", "password": "secret"})
    assert response.code == 302 and response.headers["Location"] == "/"
    assert client.session_cookie not in (None, anonymous)
    page = await client.fetch("/")
    assert text(page, "who") == "alice" and text(page, "visits") == "1"
    assert text(page, "basket") == "plum"
    assert b"Welcome, alice. You are logged in." in page.body
    assert text(await client.fetch("/"), "visits") == "2"
    # The pre-login id is worthless now.
    stale = SessionClient(client.app, client.base_url)
    stale.cookies["sessionid"] = anonymous or ""
    assert await stale.session() is None


@pytest.mark.gen_test
async def test_remember_me_gives_a_30_day_cookie_and_says_so(client: SessionClient) -> None:
    response = await client.fetch(
        "/login", form={"user": "a", "password": "secret", "remember": "on"}
    )
    (cookie,) = session_cookies(response)
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert REMEMBER_ME - 5 <= max_age <= REMEMBER_ME
    page = await client.fetch("/")
    assert "30 days" in text(page, "cookie-lifetime")
    assert text(page, "expires-in").startswith("29 days 23 hours")


@pytest.mark.gen_test
async def test_without_remember_me_the_cookie_dies_with_the_browser(client: SessionClient) -> None:
    response = await client.fetch("/login", form={"user": "b", "password": "secret"})
    (cookie,) = session_cookies(response)
    assert "Max-Age" not in cookie and "Expires" not in cookie
    page = await client.fetch("/")
    assert "deleted when the browser closes" in text(page, "cookie-lifetime")
    assert text(page, "expires-in").startswith("13 days 23 hours")  # max_age still applies


@pytest.mark.gen_test
async def test_authenticated_page_goes_through_the_login_form_and_back(
    client: SessionClient,
) -> None:
    response = await client.fetch("/members")
    assert response.code == 302 and response.headers["Location"] == "/login?next=%2Fmembers"
    form = await client.fetch(response.headers["Location"])
    assert form.code == 200 and b'name="next" value="/members"' in form.body
    response = await client.fetch(
        "/login", form={"user": "c", "password": "secret", "next": "/members"}
    )
    assert response.headers["Location"] == "/members"
    assert (await client.fetch("/members")).code == 200


@pytest.mark.gen_test
async def test_login_never_redirects_off_site(client: SessionClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "members"):
        response = await client.fetch(
            "/login", form={"user": "d", "password": "secret", "next": target}
        )
        assert response.headers["Location"] == "/", target


@pytest.mark.gen_test
async def test_logout_destroys_the_session_and_clears_the_cookie(
    client: SessionClient, store: CountingStore
) -> None:
    await client.start_session({"user": "alice", "remember_me": False})  # logged in, no form
    assert text(await client.fetch("/"), "who") == "alice"
    stolen = client.session_cookie
    response = await client.fetch("/logout", form={}, follow_redirects=True)
    assert response.code == 200 and b'id="logged-out"' in response.body
    assert client.session_cookie is None
    thief = SessionClient(client.app, client.base_url)
    thief.cookies["sessionid"] = stolen or ""
    assert await thief.session() is None


@pytest.mark.gen_test
async def test_health_check_never_touches_the_session(
    client: SessionClient, store: CountingStore
) -> None:
    await client.start_session({"user": "alice"})
    before = store.total()
    response = await client.fetch("/health")
    assert response.body == b"ok" and session_cookies(response) == []
    assert store.total() == before


def test_durations_read_as_words() -> None:
    assert duration(30 * 86400 - 1) == "29 days 23 hours"
    assert duration(61) == "1 minute 1 second"
    assert duration(0.5) == "less than a second"


def test_the_default_options_are_the_documented_ones() -> None:
    options = demo_options(secret=SECRET)
    assert isinstance(options, SessionOptions)
    assert options.save_uninitialized is False and options.unset == "destroy"
