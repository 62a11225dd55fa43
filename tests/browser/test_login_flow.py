"""The demo's flows in Chromium: visit, basket, wrong password, log in, members' page, log out,
and a first visit while the store is down.

Owns the flows of one browser session, checked through what the page shows, what
Chromium stores (``context.cookies()``), what the server received, and raw HTTP
replays of old cookie values; and the step-by-step screenshots in
``test-artifacts/browser/<flow>/`` for a person to look at.
"""

from __future__ import annotations

import time

from tornado_sessions import MemoryStore, SessionOptions

try:
    from playwright.sync_api import expect
except ImportError:  # the conftest's fixtures skip (or fail under CI) with the reason
    expect = None

FOURTEEN_DAYS = 14 * 24 * 3600  # SessionOptions.max_age, the demo's default

# Submit the logout form as the page would, but without following the redirect to "/":
# what the browser holds afterwards is then exactly what the logout response left it.
LOGOUT_WITHOUT_FOLLOWING = """async () => {
    const form = document.querySelector('form[action="/logout"]');
    const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), redirect: "manual",
    });
    return response.type;
}"""


def test_login_walkthrough_with_screenshots(page, context, demo_server, screenshot):
    def step(name):
        return screenshot(page, "login-flow", name)

    page.goto(demo_server.url("/"))
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#password-hint")).to_contain_text("secret")  # the password is shown
    expect(page.locator("#no-session")).to_be_visible()
    step("01-anonymous")
    assert demo_server.browser_cookie(context) is None  # looking around stores nothing

    page.fill("#user", "alice")
    page.fill("#password", "wrong")
    page.click("#login")
    expect(page.locator("#error")).to_have_text("Wrong user name or password.")
    expect(page.locator("#user")).to_have_value("alice")  # the form again, ready to retry
    step("02-wrong-password")
    assert demo_server.browser_cookie(context) is None

    page.fill("#password", "secret")
    page.check("#remember")
    step("03-form-filled")
    page.click("#login")
    expect(page.locator("#who")).to_have_text("alice")
    expect(page.locator(".flash.success")).to_have_text("Welcome, alice. You are logged in.")
    expect(page.locator("#visits")).to_have_text("1")
    expect(page.locator("#cookie-lifetime")).to_contain_text("30 days")
    expect(page.locator("#expires-in")).to_contain_text("29 days 23 hours")
    expect(page.locator("#session")).to_contain_text("'alice'")  # what the session holds
    step("04-logged-in")
    logged_in = demo_server.browser_cookie(context)
    assert logged_in is not None

    page.reload()
    expect(page.locator("#who")).to_have_text("alice")
    expect(page.locator("#visits")).to_have_text("2")
    expect(page.locator(".flash")).to_have_count(0)  # a flash is shown once
    step("05-reloaded")

    page.click("#logout")
    expect(page.locator("#logged-out")).to_be_visible()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#no-session")).to_be_visible()
    step("06-logged-out")
    assert demo_server.browser_cookie(context) is None
    assert demo_server.replay(logged_in["value"]).body["user"] is None


def test_basket_walkthrough_with_screenshots(page, context, demo_server, screenshot):
    def step(name):
        return screenshot(page, "basket-flow", name)

    page.goto(demo_server.url("/"))
    expect(page.locator("#basket-empty")).to_be_visible()
    assert demo_server.browser_cookie(context) is None
    step("01-empty")

    page.click("#add-pear")
    expect(page.locator("#basket")).to_have_text("pear")
    expect(page.locator(".flash")).to_have_text("Added pear to your basket.")
    expect(page.locator("#cookie-lifetime")).to_contain_text("14 days")
    step("02-one-pear")
    cookie = demo_server.browser_cookie(context)
    assert cookie is not None  # adding to the basket needs a session: now there is one
    assert FOURTEEN_DAYS - 60 < cookie["expires"] - time.time() <= FOURTEEN_DAYS + 1

    page.click("#add-plum")
    expect(page.locator("#basket")).to_have_text("pear, plum")
    step("03-pear-and-plum")

    page.click("#empty-basket")
    expect(page.locator("#basket-empty")).to_be_visible()
    expect(page.locator("#no-session")).to_be_visible()
    step("04-emptied")
    assert demo_server.browser_cookie(context) is None  # unset="destroy": session gone
    assert demo_server.replay(cookie["value"]).body["new"] is True


def test_login_moves_the_session_to_a_new_id_and_kills_the_old_one(page, context, demo_server):
    demo_server.add_to_basket(page, "apple")
    planted = demo_server.browser_cookie(context)
    assert planted is not None

    since = demo_server.received.mark()
    demo_server.log_in(page, navigate=False)
    fresh = demo_server.browser_cookie(context)

    assert demo_server.id_of(fresh) != demo_server.id_of(planted)
    login = demo_server.received.wait_for("POST", "/login", since)
    assert login.cookies()["sessionid"] == planted["value"]
    landing = demo_server.received.wait_for("GET", "/", since)
    assert landing.cookies()["sessionid"] == fresh["value"]
    # The record behind the pre-login id is gone: replaying it finds no session.
    assert demo_server.replay(planted["value"]).body == {
        "user": None,
        "visits": 0,
        "basket": [],
        "new": True,
    }
    # The basket moved with the session.
    assert demo_server.replay(fresh["value"]).body == {
        "user": "alice",
        "visits": 1,
        "basket": ["apple"],
        "new": False,
    }
    expect(page.locator("#basket")).to_have_text("apple")


def test_members_page_sends_visitors_through_the_login_form_and_back(
    page, context, demo_server, screenshot
):
    page.goto(demo_server.url("/members"))
    page.wait_for_url(demo_server.url("/login?next=%2Fmembers"))
    expect(page.locator("#login-needed")).to_contain_text("/members")
    screenshot(page, "members", "01-login-needed")
    assert demo_server.browser_cookie(context) is None

    page.fill("#user", "bob")
    page.fill("#password", "secret")
    page.click("#login")
    page.wait_for_url(demo_server.url("/members"))
    expect(page.locator("#members")).to_be_visible()
    expect(page.locator("#who")).to_have_text("bob")
    screenshot(page, "members", "02-members-page")


def test_logout_removes_the_cookie_and_kills_the_old_id(page, context, demo_server):
    demo_server.log_in(page)
    logged_in = demo_server.browser_cookie(context)
    assert logged_in is not None
    assert demo_server.replay(logged_in["value"]).body["user"] == "alice"

    assert page.evaluate(LOGOUT_WITHOUT_FOLLOWING) == "opaqueredirect"  # not a 403

    assert demo_server.browser_cookie(context) is None
    assert demo_server.replay(logged_in["value"]).body["new"] is True

    since = demo_server.received.mark()
    page.goto(demo_server.url("/"))
    expect(page.locator("#login")).to_be_visible()
    sent = demo_server.received.wait_for("GET", "/", since)
    assert "sessionid" not in sent.cookies()


class _DownStore(MemoryStore):
    """A store that fails every call, like a Redis server that is down."""

    async def load(self, key):
        raise ConnectionRefusedError("connection refused")

    async def save(self, key, record):
        raise ConnectionRefusedError("connection refused")


def test_a_first_visit_works_while_the_store_is_down(serve_example, page, screenshot):
    server = serve_example(SessionOptions(secret="browser-suite-secret-" * 2, store=_DownStore()))
    response = page.goto(server.url("/"))
    assert response is not None and response.status == 200
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#no-session")).to_be_visible()
    screenshot(page, "store-down", "01-first-visit")

    with page.expect_response(server.url("/basket")) as posted:
        page.click("#add-pear")  # something that needs the store: an honest 503
    assert posted.value.status == 503
