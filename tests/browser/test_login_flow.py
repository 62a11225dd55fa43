"""The example app's login flow in Chromium: log in, reload, log out.

Owns the flows of one browser session, checked through what Chromium stores
(``context.cookies()``), what the server received, and raw HTTP replays of old
cookie values; and the step-by-step screenshots in
``test-artifacts/browser/login-flow/`` for a person to look at.
"""

from __future__ import annotations

import time

try:
    from playwright.sync_api import expect
except ImportError:  # the conftest's fixtures skip (or fail under CI) with the reason
    expect = None

FOURTEEN_DAYS = 14 * 24 * 3600  # SessionOptions.max_age, the example app's default

# Submit the logout form as the page would, but without following the redirect to "/"
# (which starts a new anonymous session): what the browser holds afterwards is then
# exactly what the logout response left it.
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
    expect(page.locator("#count")).to_have_text("1")
    expect(page.locator("#login")).to_be_visible()
    step("01-anonymous")
    anonymous = demo_server.browser_cookie(context)
    assert anonymous is not None, "the anonymous counter session left no cookie in the browser"

    page.fill("#user", "alice")
    page.fill("#password", "wrong")
    page.click("#login")
    expect(page.locator("#error")).to_be_visible()
    step("02-wrong-password")
    assert demo_server.browser_cookie(context)["value"] == anonymous["value"]

    page.goto(demo_server.url("/"))
    expect(page.locator("#count")).to_have_text("2")
    page.fill("#user", "alice")
    page.fill("#password", "secret")
    step("03-form-filled")
    page.click("#login")
    expect(page.locator("#who")).to_have_text("alice")
    expect(page.locator("#count")).to_have_text("3")
    step("04-logged-in")
    logged_in = demo_server.browser_cookie(context)
    assert demo_server.id_of(logged_in) != demo_server.id_of(anonymous)

    page.reload()
    expect(page.locator("#who")).to_have_text("alice")
    expect(page.locator("#count")).to_have_text("4")
    step("05-reloaded")

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#count")).to_have_text("1")
    step("06-logged-out")
    after = demo_server.browser_cookie(context)
    assert after is not None  # the new anonymous session's
    assert demo_server.id_of(after) not in {
        demo_server.id_of(anonymous),
        demo_server.id_of(logged_in),
    }


def test_login_moves_the_session_to_a_new_id_and_kills_the_old_one(page, context, demo_server):
    page.goto(demo_server.url("/"))
    expect(page.locator("#count")).to_have_text("1")
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
    # The record behind the pre-login id is gone: replaying it gets a new anonymous session.
    assert demo_server.replay(planted["value"]).body == {"user": None, "count": 0, "new": True}
    # The data moved with the session (count 1 before login, 2 on the landing page).
    assert demo_server.replay(fresh["value"]).body == {"user": "alice", "count": 2, "new": False}


def test_counter_survives_reloads(page, context, demo_server):
    page.goto(demo_server.url("/"))
    expect(page.locator("#count")).to_have_text("1")
    cookie = demo_server.browser_cookie(context)
    assert cookie is not None
    # A persistent cookie whose lifetime is max_age, as the browser recorded it.
    assert FOURTEEN_DAYS - 60 < cookie["expires"] - time.time() <= FOURTEEN_DAYS + 1

    for expected in ("2", "3"):
        since = demo_server.received.mark()
        page.reload()
        expect(page.locator("#count")).to_have_text(expected)
        sent = demo_server.received.wait_for("GET", "/", since)
        assert sent.cookies()["sessionid"] == cookie["value"]
    assert demo_server.browser_cookie(context)["value"] == cookie["value"]


def test_logout_removes_the_cookie_and_kills_the_old_id(page, context, demo_server):
    demo_server.log_in(page)
    logged_in = demo_server.browser_cookie(context)
    assert logged_in is not None
    assert demo_server.replay(logged_in["value"]).body["user"] == "alice"

    assert page.evaluate(LOGOUT_WITHOUT_FOLLOWING) == "opaqueredirect"  # not a 403

    assert demo_server.browser_cookie(context) is None
    replay = demo_server.replay(logged_in["value"])
    assert replay.body == {"user": None, "count": 0, "new": True}

    since = demo_server.received.mark()
    page.goto(demo_server.url("/"))
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#count")).to_have_text("1")
    sent = demo_server.received.wait_for("GET", "/", since)
    assert "sessionid" not in sent.cookies()
