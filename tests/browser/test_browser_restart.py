"""Sessions across a real browser restart: Chromium quit and relaunched on the same profile.

Owns what survives a restart: a persistent session cookie (an anonymous basket,
"remember me") is kept by Chromium's cookie database and sent again; a
browser-session cookie (a login without "remember me") is dropped by Chromium
while the server still holds the record.
"""

from __future__ import annotations

import time

try:
    from playwright.sync_api import expect
except ImportError:  # the conftest's fixtures skip (or fail under CI) with the reason
    expect = None

FOURTEEN_DAYS = 14 * 24 * 3600  # SessionOptions.max_age, the demo's default
THIRTY_DAYS = 30 * 24 * 3600  # the demo's REMEMBER_ME


def test_basket_survives_a_browser_restart(profile, demo_server):
    context = profile.start()
    page = profile.page()
    demo_server.add_to_basket(page, "pear")
    page.click("#add-plum")
    expect(page.locator("#basket")).to_have_text("pear, plum")
    cookie = demo_server.browser_cookie(context)
    assert FOURTEEN_DAYS - 60 < cookie["expires"] - time.time() <= FOURTEEN_DAYS + 1

    context = profile.restart()
    page = profile.page()
    assert demo_server.browser_cookie(context)["value"] == cookie["value"]
    since = demo_server.received.mark()
    page.goto(demo_server.url("/"))
    expect(page.locator("#basket")).to_have_text("pear, plum")
    sent = demo_server.received.wait_for("GET", "/", since)
    assert sent.cookies()["sessionid"] == cookie["value"]


def test_remember_me_survives_a_browser_restart(profile, demo_server):
    context = profile.start()
    demo_server.log_in(profile.page(), remember=True)
    cookie = demo_server.browser_cookie(context)
    assert THIRTY_DAYS - 60 < cookie["expires"] - time.time() <= THIRTY_DAYS + 1

    context = profile.restart()
    page = profile.page()
    assert demo_server.browser_cookie(context)["value"] == cookie["value"]
    since = demo_server.received.mark()
    page.goto(demo_server.url("/"))
    expect(page.locator("#who")).to_have_text("alice")
    sent = demo_server.received.wait_for("GET", "/", since)
    assert sent.cookies()["sessionid"] == cookie["value"]


def test_browser_session_cookie_does_not_survive_a_browser_restart(profile, demo_server):
    context = profile.start()
    demo_server.log_in(profile.page(), remember=False)
    cookie = demo_server.browser_cookie(context)
    assert cookie["expires"] == -1, "a login without 'remember me' must be a session cookie"

    context = profile.restart()
    page = profile.page()
    assert demo_server.browser_cookie(context) is None
    since = demo_server.received.mark()
    page.goto(demo_server.url("/"))
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#no-session")).to_be_visible()
    sent = demo_server.received.wait_for("GET", "/", since)
    assert "sessionid" not in sent.cookies()
    # The browser forgot the cookie; the server did not forget the session.
    assert demo_server.replay(cookie["value"]).body["user"] == "alice"
