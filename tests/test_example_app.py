"""The demo app (``make demo``, examples/app.py) over HTTP, driven by ``SessionClient``.

Owns what the demo promises without a browser: anonymous visitors cost no session
(no cookie, no store write, no store call at all without a cookie, so neither a
store outage nor a flood of anonymous requests hurts); the basket starts one;
a wrong password is shown in the form; login regenerates the id and keeps the
data; "remember me" picks the cookie's lifetime; ``@authenticated`` pages send
visitors to a login form that brings them back; logout ends the session; the
"your devices" page lists a user's sessions and ends one or all the others, never
another user's.  The
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
from tornado_sessions import MemoryStore, SessionOptions, sessions_of
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


async def logged_in(app: tornado.web.Application, base_url: str, user: str) -> SessionClient:
    """A new client (a device) logged in as ``user`` through the login form."""
    device = SessionClient(app, base_url)
    response = await device.fetch("/login", form={"user": user, "password": "secret"})
    assert response.code == 302
    return device


def handles(page: Any) -> list[str]:
    """The handles of the devices listed on a devices page, in order."""
    return re.findall(r'<tr class="device[^"]*" data-handle="([^"]+)"', page.body.decode())


async def this_device(device: SessionClient) -> str:
    """The handle the devices page marks "this device" for ``device``."""
    page = await device.fetch("/devices")
    match = re.search(r'<tr class="device current" data-handle="([^"]+)"', page.body.decode())
    assert match, "no current device on the page"
    return match.group(1)


def flashes(page: Any) -> list[str]:
    """The flash messages a page shows."""
    found = re.findall(r'<p class="flash [^"]*" role="status">(.*?)</p>', page.body.decode(), re.S)
    return [message.strip() for message in found]


@pytest.mark.gen_test
async def test_devices_page_is_for_logged_in_users_only(client: SessionClient) -> None:
    response = await client.fetch("/devices")
    assert response.code == 302 and response.headers["Location"] == "/login?next=%2Fdevices"
    for path in ("/devices/end", "/devices/end-others"):
        response = await client.fetch(path, form={"handle": "x"})
        assert response.code == 403, path  # @authenticated refuses a POST outright


@pytest.mark.gen_test
async def test_devices_page_lists_each_session_and_marks_this_device(
    app: tornado.web.Application, base_url: str, http_server: Any
) -> None:
    phone = await logged_in(app, base_url, "alice")
    laptop = await logged_in(app, base_url, "alice")
    await logged_in(app, base_url, "bob")  # someone else's: never listed
    page = await laptop.fetch("/devices")
    assert page.code == 200
    listed = await sessions_of(app, "alice")
    assert len(listed) == 2 and sorted(handles(page)) == sorted(i.handle for i in listed)
    body = page.body.decode()
    assert body.count("this device") == 1
    assert await this_device(laptop) != await this_device(phone)
    assert {await this_device(laptop), await this_device(phone)} == set(handles(page))
    assert body.count('action="/devices/end"') == 1  # a form for the other device only
    assert body.count('name="_xsrf"') >= 3  # logout, end one, end the others
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", body)  # times for people
    assert "ago</td>" in body
    assert text(page, "device-count") == "2 devices."


@pytest.mark.gen_test
async def test_ending_one_device_logs_it_out_and_keeps_this_one(
    app: tornado.web.Application, base_url: str, http_server: Any
) -> None:
    phone = await logged_in(app, base_url, "alice")
    laptop = await logged_in(app, base_url, "alice")
    tablet = await logged_in(app, base_url, "alice")
    assert (await phone.session() or {}).get("user") == "alice"
    phone_handle = await this_device(phone)
    response = await laptop.fetch("/devices/end", form={"handle": phone_handle})
    assert response.code == 302 and response.headers["Location"] == "/devices"
    page = await laptop.fetch("/devices")
    assert "That device is logged out." in flashes(page)
    assert phone_handle not in handles(page) and len(handles(page)) == 2
    assert await phone.session() is None
    assert (await phone.fetch("/devices")).code == 302  # logged out on its next request
    assert (await tablet.session() or {}).get("user") == "alice"
    assert (await laptop.session() or {}).get("user") == "alice"


@pytest.mark.gen_test
async def test_log_out_everywhere_else_keeps_only_this_device(
    app: tornado.web.Application, base_url: str, http_server: Any
) -> None:
    others = [await logged_in(app, base_url, "alice") for _ in range(2)]
    bob = await logged_in(app, base_url, "bob")
    laptop = await logged_in(app, base_url, "alice")
    response = await laptop.fetch("/devices/end-others", form={})
    assert response.code == 302 and response.headers["Location"] == "/devices"
    page = await laptop.fetch("/devices")
    assert "Logged out 2 other devices." in flashes(page)
    assert len(handles(page)) == 1 and "this device" in page.body.decode()
    assert b'id="end-others"' not in page.body  # nothing else left to end
    for device in others:
        assert await device.session() is None
    assert (await bob.session() or {}).get("user") == "bob"


@pytest.mark.gen_test
async def test_a_user_cannot_end_another_users_device(
    app: tornado.web.Application, base_url: str, http_server: Any
) -> None:
    bob = await logged_in(app, base_url, "bob")
    mallory = await logged_in(app, base_url, "mallory")
    (bobs,) = await sessions_of(app, "bob")  # a handle mallory learned somehow
    response = await mallory.fetch("/devices/end", form={"handle": bobs.handle})
    assert response.code == 302
    page = await mallory.fetch("/devices")
    assert "No such device (it may have logged out already)." in flashes(page)
    assert (await bob.session() or {}).get("user") == "bob"
    assert [i.handle for i in await sessions_of(app, "bob")] == [bobs.handle]
    # The forms carry the xsrf token: a post without it is refused, and nothing ends.
    alice = await logged_in(app, base_url, "alice")
    alice_phone = await logged_in(app, base_url, "alice")
    forged = await alice.fetch("/devices/end", body=f"handle={await this_device(alice_phone)}")
    assert forged.code == 403
    assert len(await sessions_of(app, "alice")) == 2


def test_durations_read_as_words() -> None:
    assert duration(30 * 86400 - 1) == "29 days 23 hours"
    assert duration(61) == "1 minute 1 second"
    assert duration(0.5) == "less than a second"


def test_the_default_options_are_the_documented_ones() -> None:
    options = demo_options(secret=SECRET)
    assert isinstance(options, SessionOptions)
    assert options.save_uninitialized is False and options.unset == "destroy"
