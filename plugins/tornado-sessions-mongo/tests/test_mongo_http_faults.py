"""Through real HTTP: the server stopped or frozen mid-run gives 503 within store_timeout,
and the same application recovers once the server is back on the same port.

The application keeps running throughout; it is never rebuilt or restarted.  The
server is a private FerretDB (``ferretdb`` fixture), whose SQLite data survives
its restart, so the session is still there afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

STORE_TIMEOUT = 1.0
SLACK = 0.5  # HTTP round trip, error page, scheduling
RECOVERY_DEADLINE = 30.0


@pytest.fixture
def store_server(ferretdb: Any) -> tuple[str, str]:
    """This module's application talks to a server of its own, which the tests stop."""
    return str(ferretdb.url), "app"


@pytest.fixture
def session_options() -> dict[str, Any]:
    return {"store_timeout": STORE_TIMEOUT}


async def failing_requests(browser: Any) -> list[Any]:
    """A request whose load fails, and one (with no cookie) whose first save fails."""
    replies = [await browser.get("/get")]
    replies.append(await browser.get("/set?new=1", cookie="", keep=False))
    return replies


async def first_success(browser: Any, path: str) -> Any:
    """Repeat ``path`` until it is answered with 200 (each failure takes store_timeout)."""
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while True:
        reply = await browser.get(path)
        if reply.code == 200:
            return reply
        assert reply.code == 503, reply.body
        assert time.monotonic() < deadline, f"no recovery within {RECOVERY_DEADLINE}s"


@pytest.mark.gen_test(timeout=90)
async def test_mongo_stopped_server_gives_503_then_restart_on_same_port_recovers(
    browser: Any, ferretdb: Any
) -> None:
    assert (await browser.get("/set?a=1")).code == 200
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
    cookie = browser.cookie

    port = ferretdb.port
    ferretdb.stop()
    for reply in await failing_requests(browser):
        assert reply.code == 503
        assert reply.set_cookies == []  # nothing was written, so no cookie
        assert reply.elapsed < STORE_TIMEOUT + SLACK
    assert (await browser.get("/health")).code == 200  # handlers without sessions still work
    assert browser.cookie == cookie

    ferretdb.start()
    assert ferretdb.port == port
    reply = await first_success(browser, "/get")
    assert reply.json() == {"data": {"a": "1"}, "new": False}  # the data survived
    assert (await browser.get("/set?b=2")).code == 200
    assert (await browser.get("/get")).json() == {"data": {"a": "1", "b": "2"}, "new": False}


@pytest.mark.gen_test(timeout=90)
async def test_mongo_frozen_server_gives_503_within_store_timeout_then_recovers(
    browser: Any, ferretdb: Any
) -> None:
    assert (await browser.get("/set?a=1")).code == 200

    ferretdb.pause()  # connections are accepted by the kernel, never answered
    try:
        for reply in await failing_requests(browser):
            assert reply.code == 503 and reply.set_cookies == []
            assert STORE_TIMEOUT * 0.9 <= reply.elapsed < STORE_TIMEOUT + SLACK
    finally:
        ferretdb.resume()

    reply = await first_success(browser, "/get")
    assert reply.json() == {"data": {"a": "1"}, "new": False}
    assert (await browser.get("/set?a=3")).json()["data"] == {"a": "3"}
