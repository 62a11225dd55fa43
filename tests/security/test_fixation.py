"""Session fixation, end to end, against the example app (``examples/app.py``).

Owns the "session fixation" and "replayed cookies after logout/login" evidence of
SECURITY.md.  The app is the one ``make demo`` serves, and it does what the docs
tell applications to do: ``await session.regenerate()`` on login and
``await session.destroy()`` on logout.  The attacker obtains (or invents) a session
cookie, plants it in the victim's browser, and the victim logs in with it; the
attacker's cookie must never become an authenticated session.  Requests are real
HTTP, with the XSRF token the app requires, and cookies read from ``Set-Cookie``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import tornado.web

from examples.app import demo_options, make_app
from tornado_sessions import MemoryStore
from tornado_sessions.ids import store_key
from tornado_sessions.signing import Signer

SECRET = "fixation-suite-secret-0123456789abcdef"
NAME = "sessionid"
#: What the demo's /whoami answers for a session alice just logged into, and for none.
ALICE = {"user": "alice", "visits": 0, "basket": [], "new": False}
NOBODY = {"user": None, "visits": 0, "basket": [], "new": True}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def app(store: MemoryStore) -> tornado.web.Application:
    return make_app(demo_options(secret=SECRET, store=store))


def _cookie(reply: Any, name: str) -> str | None:
    for header in reply.set_cookies:
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


async def _anonymous_visit(client: Any) -> tuple[str, str]:
    """What the attacker does first: visit the site, get an XSRF token, then a session.

    Looking around gives no session (the demo stores none for anonymous visitors);
    adding to the basket does.
    """
    reply = await client.get("/")
    assert reply.status == 200 and reply.session_cookie is None
    xsrf = _cookie(reply, "_xsrf")
    assert xsrf
    body = urlencode({"item": "pear", "_xsrf": xsrf})
    reply = await client.get("/basket", method="POST", body=body, raw_cookie_header=f"_xsrf={xsrf}")
    assert reply.status == 302
    session = reply.session_cookie
    assert session
    return session, xsrf


async def _login(client: Any, session: str | None, xsrf: str, user: str = "alice") -> Any:
    cookies = f"_xsrf={xsrf}" + (f"; {NAME}={session}" if session else "")
    body = urlencode({"user": user, "password": "secret", "_xsrf": xsrf})
    return await client.get("/login", method="POST", body=body, raw_cookie_header=cookies)


async def _logout(client: Any, session: str, xsrf: str) -> Any:
    body = urlencode({"_xsrf": xsrf})
    cookies = f"_xsrf={xsrf}; {NAME}={session}"
    return await client.get("/logout", method="POST", body=body, raw_cookie_header=cookies)


async def _whoami(client: Any, session: str) -> Any:
    return (await client.get("/whoami", cookie=session)).json


@pytest.mark.gen_test
async def test_an_attacker_planted_session_never_becomes_authenticated(
    client: Any, store: MemoryStore
) -> None:
    planted, xsrf = await _anonymous_visit(client)  # a real, stored session of the attacker's
    planted_id = Signer([SECRET.encode()], NAME).unsign(planted)
    assert planted_id is not None and await store.load(store_key(planted_id, True)) is not None

    reply = await _login(client, planted, xsrf)  # the victim logs in wearing it
    assert reply.status == 302
    fresh = reply.session_cookie
    assert fresh is not None and fresh != planted

    assert await _whoami(client, fresh) == ALICE | {"basket": ["pear"]}
    # The attacker's copy is dead: anonymous, and its record is gone from the store.
    assert await _whoami(client, planted) == NOBODY
    assert await store.load(store_key(planted_id, True)) is None


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "planted",
    ["attacker-chosen-value", "A" * 43, Signer([SECRET.encode()], NAME).sign("B" * 43)],
    ids=["arbitrary", "unsigned_id", "signed_but_never_issued"],
)
async def test_an_attacker_chosen_value_is_never_adopted_as_the_session_id(
    client: Any, store: MemoryStore, planted: str
) -> None:
    _, xsrf = await _anonymous_visit(client)
    reply = await _login(client, planted, xsrf)
    assert reply.status == 302
    fresh = reply.session_cookie
    assert fresh is not None
    fresh_id = Signer([SECRET.encode()], NAME).unsign(fresh)
    assert fresh_id is not None and fresh_id not in planted
    assert await _whoami(client, fresh) == ALICE
    assert (await _whoami(client, planted))["user"] is None
    assert await store.load(store_key("B" * 43, True)) is None


@pytest.mark.gen_test
async def test_logging_in_as_another_user_on_the_same_cookie_gets_a_new_id(
    client: Any,
) -> None:
    _, xsrf = await _anonymous_visit(client)
    alice = (await _login(client, None, xsrf, "alice")).session_cookie
    assert alice is not None
    bob = (await _login(client, alice, xsrf, "bob")).session_cookie
    assert bob is not None and bob != alice
    assert (await _whoami(client, bob))["user"] == "bob"
    assert (await _whoami(client, alice))["user"] is None


@pytest.mark.gen_test
async def test_logout_kills_the_session_for_every_holder_of_the_cookie(
    client: Any, store: MemoryStore
) -> None:
    _, xsrf = await _anonymous_visit(client)
    session = (await _login(client, None, xsrf)).session_cookie
    assert session is not None
    stolen = session  # e.g. copied by an attacker earlier
    reply = await _logout(client, session, xsrf)
    assert reply.status == 302
    assert reply.clears_cookie
    attributes = reply.cookie_attributes
    assert attributes["max-age"] == "0" and "1970" in attributes["expires"]
    assert await _whoami(client, stolen) == NOBODY
    assert await store.count() == 1  # only the anonymous visit's basket session is left


@pytest.mark.gen_test
async def test_a_failed_login_neither_authenticates_nor_rotates(client: Any) -> None:
    planted, xsrf = await _anonymous_visit(client)
    body = urlencode({"user": "alice", "password": "wrong", "_xsrf": xsrf})
    reply = await client.get(
        "/login", method="POST", body=body, raw_cookie_header=f"_xsrf={xsrf}; {NAME}={planted}"
    )
    # Not rotated: the same cookie, re-sent only because the page showed (and so
    # removed) the basket's flash message.
    assert reply.status == 403 and reply.session_cookie in (None, planted)
    assert (await _whoami(client, planted))["user"] is None


@pytest.mark.gen_test
async def test_the_example_app_refuses_a_login_post_without_the_xsrf_token(client: Any) -> None:
    # Login CSRF (an attacker logging the victim into the attacker's account) is
    # stopped by Tornado's xsrf_cookies, which the example app turns on.
    planted, xsrf = await _anonymous_visit(client)
    body = urlencode({"user": "mallory", "password": "secret"})
    reply = await client.get(
        "/login", method="POST", body=body, raw_cookie_header=f"_xsrf={xsrf}; {NAME}={planted}"
    )
    assert reply.status == 403 and reply.session_cookie is None
    assert (await _whoami(client, planted))["user"] is None
