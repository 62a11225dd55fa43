"""The session cookie's attributes as Chromium enforces them.

Owns: HttpOnly (invisible to, and not overwritable by, page scripts), SameSite=Lax
(withheld on a cross-site POST, sent on a cross-site top-level GET navigation;
``127.0.0.1`` and ``localhost`` are different sites), and a ``__Host-`` cookie over
https (stored only if Secure, Path=/ and no Domain), served by examples/app.py run
as a script with a throwaway certificate that only one browser trusts, by its SPKI hash;
and that a cookie Chromium rejects is never dropped silently (the library warns why).
"""

from __future__ import annotations

import logging

import pytest

from tornado_sessions import ConfigurationError, SessionOptions

try:
    from playwright.sync_api import expect
except ImportError:  # the conftest's fixtures skip (or fail under CI) with the reason
    expect = None


def test_httponly_cookie_is_invisible_to_javascript(page, context, demo_server):
    demo_server.add_to_basket(page, "pear")
    cookie = demo_server.browser_cookie(context)
    assert cookie["httpOnly"] is True

    visible = page.evaluate("document.cookie")
    assert "_xsrf=" in visible  # Tornado's XSRF cookie is readable: document.cookie works
    assert "sessionid" not in visible

    # A script cannot replace an HttpOnly cookie either.
    page.evaluate("document.cookie = 'sessionid=forged; path=/'")
    assert demo_server.browser_cookie(context)["value"] == cookie["value"]
    since = demo_server.received.mark()
    page.reload()
    expect(page.locator("#basket")).to_have_text("pear")
    sent = demo_server.received.wait_for("GET", "/", since)
    assert sent.cookies()["sessionid"] == cookie["value"]


def test_samesite_lax_cookie_is_not_sent_on_a_cross_site_post(page, context, demo_server):
    demo_server.log_in(page)
    cookie = demo_server.browser_cookie(context)
    assert cookie["sameSite"] == "Lax"

    page.goto(demo_server.other_site_page)
    since = demo_server.received.mark()
    page.click("#post")
    page.wait_for_url(demo_server.url("/logout"))
    received = demo_server.received.wait_for("POST", "/logout", since)

    assert received.fetch_site == "cross-site"  # Chromium itself judged it cross-site
    assert received.origin == demo_server.other_site_page.split("/?", 1)[0]
    assert "sessionid" not in received.cookies()
    assert demo_server.browser_cookie(context)["value"] == cookie["value"]
    assert demo_server.replay(cookie["value"]).body["user"] == "alice"


def test_samesite_lax_cookie_is_sent_on_a_cross_site_top_level_navigation(
    page, context, demo_server
):
    demo_server.log_in(page)
    cookie = demo_server.browser_cookie(context)

    page.goto(demo_server.other_site_page)
    since = demo_server.received.mark()
    page.click("#link")
    page.wait_for_url(demo_server.url("/whoami"))
    received = demo_server.received.wait_for("GET", "/whoami", since)

    assert received.fetch_site == "cross-site"
    assert received.cookies()["sessionid"] == cookie["value"]
    expect(page.locator("body")).to_contain_text('"user": "alice"')


def test_host_prefixed_cookie_is_stored_over_https(launch_chromium, https_host_cookie_server):
    server = https_host_cookie_server
    trusting = launch_chromium(
        f"--ignore-certificate-errors-spki-list={server.certificate.spki_sha256}"
    )
    context = trusting.new_context()
    page = context.new_page()

    response = page.goto(server.url("/"))
    assert response is not None and response.status == 200
    assert page.evaluate("window.isSecureContext") is True
    assert server.browser_cookie(context) is None  # no session until one is needed
    server.add_to_basket(page, "pear", navigate=False)

    cookie = server.browser_cookie(context)
    assert cookie is not None, "Chromium refused the __Host- session cookie"
    assert cookie["name"] == "__Host-sessionid"
    assert cookie["secure"] is True
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert cookie["httpOnly"] is True

    page.click("#add-plum")
    expect(page.locator("#basket")).to_have_text("pear, plum")
    assert server.replay(cookie["value"]).body == {
        "user": None,
        "visits": 0,
        "basket": ["pear", "plum"],
        "new": False,
    }


@pytest.mark.parametrize(
    "attribute",
    [{"cookie_samesite": "None"}, {"cookie_partitioned": True}],
    ids=["samesite-none", "partitioned"],
)
def test_a_cookie_chromium_rejects_over_http_is_not_dropped_silently(
    attribute, serve_example, page, context, caplog
):
    caplog.set_level(logging.WARNING, logger="tornado_sessions")
    try:
        options = SessionOptions(secret="browser-suite-secret-" * 2, **attribute)
    except ConfigurationError:
        return  # refused when configured: loud, not silent
    server = serve_example(options)

    page.goto(server.url("/"))
    page.click("#add-pear")
    page.locator("#session").wait_for()
    page.reload()
    page.locator("#session").wait_for()

    sticks = page.locator("#basket").count() == 1
    warned = [r for r in caplog.records if r.name.startswith("tornado_sessions")]
    assert sticks or warned, (
        f"Chromium dropped the session cookie (it holds {server.browser_cookie(context)}) "
        "and tornado_sessions logged no warning"
    )
