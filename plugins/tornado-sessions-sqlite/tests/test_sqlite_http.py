"""Through real HTTP requests: concurrent deltas, a logout racing writes, the store URL."""

from __future__ import annotations

import asyncio

import pytest
from tornado_sessions_sqlite import SQLiteStore

from tornado_sessions.startup import session_runtime


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_requests_changing_different_keys_all_keep_their_change(browser):
    assert (await browser.get("/set?base=0")).code == 200
    replies = await asyncio.gather(*(browser.get(f"/set?k{i}={i}") for i in range(25)))
    assert [reply.code for reply in replies] == [200] * 25
    data = (await browser.get("/get")).json()["data"]
    assert data == {"base": "0", **{f"k{i}": str(i) for i in range(25)}}


@pytest.mark.gen_test
@pytest.mark.parametrize("store_setting", ["url"], indirect=True)
async def test_a_store_url_in_the_options_resolves_to_this_plugin(
    app, browser, store_setting, sqlite_path
):
    reply = await browser.get("/set?a=1")
    assert reply.code == 200 and reply.set_cookies
    store = session_runtime(app).store
    assert isinstance(store, SQLiteStore) and store.path == str(sqlite_path)
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
    assert await store.count() == 1
