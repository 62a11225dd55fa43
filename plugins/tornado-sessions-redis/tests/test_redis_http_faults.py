"""Through real HTTP: Redis stopped or frozen gives 503 within store_timeout, then recovery.

The application keeps running throughout; it is never rebuilt or restarted.
"""

from __future__ import annotations

import pytest

STORE_TIMEOUT = 0.5
SLACK = 0.5  # HTTP round trip, error page, scheduling


@pytest.fixture
def store_server(private_redis):
    """This module's app talks to a server of its own, which the tests stop and freeze."""
    return private_redis


@pytest.fixture
def session_options():
    return {"store_timeout": STORE_TIMEOUT}


async def failing_requests(browser):
    """A request whose load fails, and one (with no cookie) whose first write fails."""
    replies = [await browser.get("/get")]
    cookie, browser.cookie = browser.cookie, None
    replies.append(await browser.get("/set?new=1"))
    assert browser.cookie is None
    browser.cookie = cookie
    return replies


@pytest.mark.gen_test(timeout=30)
async def test_stopped_server_gives_503_fast_and_a_restart_on_the_same_port_recovers(
    browser, store_server
):
    assert (await browser.get("/set?a=1")).code == 200
    assert (await browser.get("/get")).json()["data"] == {"a": "1"}

    store_server.stop()
    for reply in await failing_requests(browser):
        assert reply.code == 503
        assert reply.set_cookies == []  # nothing was written, so no cookie
        assert reply.elapsed < STORE_TIMEOUT + SLACK
    assert (await browser.get("/health")).code == 200  # handlers without sessions still work

    store_server.restart()  # same port; the data is gone (no persistence)
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {}, "new": True}
    reply = await browser.get("/set?b=2")
    assert reply.code == 200 and reply.set_cookies
    assert (await browser.get("/get")).json() == {"data": {"b": "2"}, "new": False}


@pytest.mark.gen_test(timeout=30)
async def test_frozen_server_gives_503_within_store_timeout_and_recovers_with_the_data(
    browser, store_server
):
    assert (await browser.get("/set?a=1")).code == 200

    store_server.pause()  # connections are accepted by the kernel, never answered
    for reply in await failing_requests(browser):
        assert reply.code == 503 and reply.set_cookies == []
        assert STORE_TIMEOUT * 0.9 <= reply.elapsed < STORE_TIMEOUT + SLACK

    store_server.resume()
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {"a": "1"}, "new": False}
    assert (await browser.get("/set?a=3")).json()["data"] == {"a": "3"}
