"""The demo's "Your devices" page in Chromium, with two browser contexts as two devices.

Owns the flow the page exists for: one user logged in on two devices sees both
listed (this one marked), ends the other from the page, and the other device's
very next page load shows it logged out; plus screenshots in
``test-artifacts/browser/devices/``.
"""

from __future__ import annotations

from tornado_sessions import SessionOptions

try:
    from playwright.sync_api import expect
except ImportError:  # the conftest's fixtures skip (or fail under CI) with the reason
    expect = None

USER = "dana"  # the demo server is shared by the package: a user no other test logs in as


def test_device_a_ends_device_b_which_is_logged_out_on_its_next_page(
    browser, context, page, demo_server, screenshot
):
    device_b = browser.new_context()
    try:
        page_b = device_b.new_page()
        demo_server.log_in(page, user=USER)
        demo_server.log_in(page_b, user=USER)
        cookie_b = demo_server.browser_cookie(device_b)
        assert cookie_b is not None
        assert demo_server.id_of(cookie_b) != demo_server.id_of(demo_server.browser_cookie(context))

        page.click("#devices-link")
        page.wait_for_url(demo_server.url("/devices"))
        rows = page.locator("tr.device")
        expect(rows).to_have_count(2)
        expect(page.locator("tr.device.current")).to_have_count(1)
        expect(page.locator("tr.device.current")).to_contain_text("this device")
        expect(page.locator("#device-count")).to_have_text("2 devices.")
        expect(page.locator("tr.device.current form")).to_have_count(0)  # no "end" for itself
        screenshot(page, "devices", "01-two-devices")

        page.locator("tr.device:not(.current) button").click()
        page.wait_for_url(demo_server.url("/devices"))
        expect(page.locator(".flash.success")).to_have_text("That device is logged out.")
        expect(rows).to_have_count(1)
        expect(page.locator("tr.device.current")).to_contain_text("this device")
        screenshot(page, "devices", "02-device-b-ended")

        since = demo_server.received.mark()
        page_b.reload()
        sent = demo_server.received.wait_for("GET", "/", since)
        assert sent.cookies()["sessionid"] == cookie_b["value"]  # B still sent its old cookie
        expect(page_b.locator("#login")).to_be_visible()  # and the page shows it logged out
        expect(page_b.locator("#who")).to_have_count(0)
        screenshot(page_b, "devices", "03-device-b-logged-out")
        assert demo_server.replay(cookie_b["value"]).body["user"] is None

        page.reload()  # device A is still logged in
        expect(page.locator("#who")).to_have_text(USER)
    finally:
        device_b.close()


def test_log_out_everywhere_else_from_the_page(browser, page, demo_server, serve_example):
    app = serve_example(SessionOptions(secret="browser-suite-secret-" * 2))
    device_b = browser.new_context()
    try:
        page_b = device_b.new_page()
        app.log_in(page, user=USER)
        app.log_in(page_b, user=USER)
        page.goto(app.url("/devices"))
        expect(page.locator("tr.device")).to_have_count(2)
        page.click("#end-others")
        page.wait_for_url(app.url("/devices"))
        expect(page.locator(".flash.success")).to_have_text("Logged out 1 other device.")
        expect(page.locator("tr.device")).to_have_count(1)
        expect(page.locator("#end-others")).to_have_count(0)
        page_b.goto(app.url("/devices"))  # @authenticated: B is sent to the login form
        page_b.wait_for_url(app.url("/login?next=%2Fdevices"))
    finally:
        device_b.close()
