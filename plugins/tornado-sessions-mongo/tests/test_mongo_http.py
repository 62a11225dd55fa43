"""Sessions through real HTTP requests, stored in the real server, with both clients.

The application is a few ``SessionMixin`` handlers (``conftest.py``) served by
pytest-tornado over a socket; cookies travel in real ``Set-Cookie``/``Cookie``
headers.  With ``pymongo`` the options name a ``mongodb://`` URL, which the core
resolves through this plugin's entry point.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tornado_sessions_mongo import MongoStore

from tornado_sessions.startup import session_runtime


@pytest.fixture
def session_options() -> dict[str, Any]:
    """Every request of this module's application extends the expiry (``touch_after=0``)."""
    return {"touch_after": 0}


@pytest.mark.gen_test
async def test_mongo_session_round_trips_over_http(
    browser: Any, app: Any, app_collection: Any
) -> None:
    reply = await browser.get("/set?user=ada&cart.items=3")
    assert reply.code == 200 and reply.set_cookies
    reply = await browser.get("/get")
    assert reply.json() == {"data": {"user": "ada", "cart.items": "3"}, "new": False}
    assert isinstance(session_runtime(app).store, MongoStore)
    (doc,) = list(app_collection.find())
    assert set(doc["data"]) == {"user", "cart%2Eitems"}


@pytest.mark.gen_test(timeout=30)
async def test_mongo_concurrent_requests_changing_different_keys_lose_nothing(
    browser: Any, app_collection: Any
) -> None:
    assert (await browser.get("/set?first=0")).code == 200
    replies = await asyncio.gather(
        *(browser.get(f"/set?key{i}={i}", keep=False) for i in range(12))
    )
    assert [reply.code for reply in replies] == [200] * 12
    expected = {"first": "0", **{f"key{i}": str(i) for i in range(12)}}
    assert (await browser.get("/get")).json() == {"data": expected, "new": False}
    assert app_collection.count_documents({}) == 1


@pytest.mark.gen_test
async def test_mongo_expired_session_is_not_loaded_over_http(
    browser: Any, app_collection: Any
) -> None:
    await browser.get("/set?user=ada")
    app_collection.update_one(
        {}, {"$set": {"expires": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {}, "new": True}


@pytest.mark.gen_test
async def test_mongo_unmodified_request_moves_only_the_expiry(
    browser: Any, app_collection: Any
) -> None:
    await browser.get("/set?user=ada")
    before = app_collection.find_one()
    started = time.monotonic()
    # Wait (by polling the clock, not sleeping) until a new expiry must differ.
    while time.monotonic() - started < 0.01:
        await asyncio.sleep(0)
    assert (await browser.get("/get")).code == 200
    after = app_collection.find_one()
    assert after["expires"] > before["expires"]
    assert after["data"] == before["data"] and after["meta"] == before["meta"]


@pytest.mark.gen_test
async def test_mongo_destroy_over_http_deletes_the_document(
    browser: Any, app_collection: Any
) -> None:
    await browser.get("/set?user=ada")
    old_cookie = browser.cookie
    assert app_collection.count_documents({}) == 1
    reply = await browser.get("/destroy")
    assert reply.code == 200 and browser.cookie is None
    assert app_collection.count_documents({}) == 0
    reply = await browser.get("/get", cookie=old_cookie)
    assert reply.json() == {"data": {}, "new": True}
