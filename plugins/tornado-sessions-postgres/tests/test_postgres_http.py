"""Through real HTTP requests: statements per request, concurrent deltas, expiry, the store URL."""

from __future__ import annotations

import asyncio
import math
import time

import asyncpg
import pytest
from tornado_sessions_postgres import PostgresStore

from tornado_sessions.startup import session_runtime

counted = pytest.mark.parametrize("store_setting", ["counted"], indirect=True)


async def warm_up(browser) -> None:
    """Create a session, change it and read it, so counts show steady-state traffic."""
    assert (await browser.get("/set?a=1")).code == 200
    assert (await browser.get("/set?a=2")).code == 200
    assert (await browser.get("/get")).code == 200


@pytest.mark.gen_test
@counted
async def test_a_handler_that_never_asks_costs_no_statement(browser, statements, store_setting):
    await warm_up(browser)
    statements["pool"].take()
    reply = await browser.get("/health")
    assert reply.code == 200 and reply.set_cookies == []
    assert statements["pool"].take() == []


@pytest.mark.gen_test
@counted
async def test_a_read_only_request_within_the_touch_window_costs_exactly_one_statement(
    browser, statements, store_setting
):
    await warm_up(browser)
    statements["pool"].take()
    for _ in range(3):
        reply = await browser.get("/get")
        assert reply.code == 200 and reply.json()["data"] == {"a": "2"}
        assert statements["pool"].take() == ["load"]


@pytest.mark.gen_test
@counted
async def test_a_request_that_changes_keys_costs_one_load_and_one_delta(
    browser, statements, store_setting
):
    await warm_up(browser)
    statements["pool"].take()
    reply = await browser.get("/set?b=3")
    assert reply.code == 200 and reply.json()["data"] == {"a": "2", "b": "3"}
    assert statements["pool"].take() == ["load", "save_changes"]


@pytest.mark.gen_test
@counted
async def test_a_new_session_costs_one_write_and_no_load(browser, statements, store_setting):
    await warm_up(browser)
    browser.cookie = None
    statements["pool"].take()
    reply = await browser.get("/set?fresh=1")
    assert reply.code == 200 and reply.json()["new"] is True and reply.set_cookies
    assert statements["pool"].take() == ["save"]


@pytest.mark.gen_test
@counted
@pytest.mark.parametrize("session_options", [{"touch_after": 0}], indirect=True)
async def test_a_due_touch_is_one_load_and_one_expiry_update(
    browser, statements, store_setting, session_options
):
    await warm_up(browser)
    statements["pool"].take()
    reply = await browser.get("/get")
    assert reply.code == 200
    assert statements["pool"].take() == ["load", "touch"]


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_requests_changing_different_keys_all_keep_their_change(browser):
    assert (await browser.get("/set?base=0")).code == 200
    replies = await asyncio.gather(*(browser.get(f"/set?k{i}={i}") for i in range(25)))
    assert [reply.code for reply in replies] == [200] * 25
    data = (await browser.get("/get")).json()["data"]
    assert data == {"base": "0", **{f"k{i}": str(i) for i in range(25)}}


@pytest.mark.gen_test
async def test_the_cookie_max_age_is_the_time_left_on_the_row(browser, store_server, table):
    reply = await browser.get("/set?a=1")
    max_age = int(reply.cookie_attribute("max-age") or -1)
    conn = await asyncpg.connect(store_server.url)
    try:
        expires_ms = await conn.fetchval(f'SELECT expires_ms FROM "{table}"')
    finally:
        await conn.close()
    assert max_age in (14 * 24 * 3600 - 1, 14 * 24 * 3600)
    assert abs(max_age - (expires_ms / 1000 - time.time())) <= 1.0


@pytest.mark.gen_test
async def test_a_session_whose_row_has_expired_starts_over(browser, store_server, table):
    first = await browser.get("/set?a=1")
    assert first.code == 200 and first.json()["new"] is True
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
    conn = await asyncpg.connect(store_server.url)
    try:  # the row is still there, its expiry passed: it is never read again
        past = math.floor((time.time() - 1) * 1000)
        await conn.execute(f'UPDATE "{table}" SET expires_ms = $1', past)
        reply = await browser.get("/get")
        assert reply.code == 200 and reply.json() == {"data": {}, "new": True}
        reply = await browser.get("/set?b=2")  # a new session, a new row
        assert reply.json() == {"data": {"b": "2"}, "new": True}
        assert await conn.fetchval(f'SELECT count(*) FROM "{table}"') == 2
    finally:
        await conn.close()


@pytest.mark.gen_test
@pytest.mark.parametrize("store_setting", ["url"], indirect=True)
async def test_a_store_url_in_the_options_resolves_to_this_plugin(
    app, browser, store_setting, store_server, table
):
    reply = await browser.get("/set?a=1")
    assert reply.code == 200 and reply.set_cookies
    store = session_runtime(app).store
    assert isinstance(store, PostgresStore)
    assert store.table == table and store.timeout == 2.0
    conn = await asyncpg.connect(store_server.url)
    try:
        assert await conn.fetchval(f'SELECT count(*) FROM "{table}"') == 1
    finally:
        await conn.close()
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
