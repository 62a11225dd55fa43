"""Through real HTTP requests: commands per request, concurrent deltas, expiry, the store URL."""

from __future__ import annotations

import asyncio
import time

import pytest
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.scripts import DESTROY, LOAD, SAVE, SAVE_CHANGES, TOUCH

from tornado_sessions.startup import session_runtime


def script_of(command) -> str:
    """Which of the store's scripts an EVALSHA ran."""
    for script in (LOAD, SAVE, SAVE_CHANGES, TOUCH, DESTROY):
        if script.sha in command.line:
            return script.name
    return "?"


def sent(commands) -> list[str]:
    return [f"EVALSHA {script_of(c)}" if c.name == "EVALSHA" else c.name for c in commands]


@pytest.fixture
def server_log(redis_server, command_log):
    return lambda: command_log([(redis_server.host, redis_server.port)])


async def warm_up(browser) -> None:
    """Create a session and run every script once, so counts show steady-state traffic."""
    assert (await browser.get("/set?a=1")).code == 200
    assert (await browser.get("/set?a=2")).code == 200
    assert (await browser.get("/get")).code == 200


@pytest.mark.gen_test
async def test_a_handler_that_never_asks_costs_no_command(browser, server_log):
    await warm_up(browser)
    async with server_log() as log:
        reply = await browser.get("/health")
        assert reply.code == 200 and reply.set_cookies == []
        assert await log.take() == []


@pytest.mark.gen_test
async def test_a_read_only_request_within_the_touch_window_costs_exactly_one_command(
    browser, server_log
):
    await warm_up(browser)
    async with server_log() as log:
        for _ in range(3):
            reply = await browser.get("/get")
            assert reply.code == 200 and reply.json()["data"] == {"a": "2"}
            assert sent(await log.take()) == ["EVALSHA load"]


@pytest.mark.gen_test
async def test_a_request_that_changes_keys_costs_one_load_and_one_write(browser, server_log):
    await warm_up(browser)
    async with server_log() as log:
        reply = await browser.get("/set?b=3")
        assert reply.code == 200 and reply.json()["data"] == {"a": "2", "b": "3"}
        assert sent(await log.take()) == ["EVALSHA load", "EVALSHA save_changes"]


@pytest.mark.gen_test
async def test_a_new_session_costs_one_write_and_no_load(browser, server_log):
    await warm_up(browser)
    browser.cookie = None
    async with server_log() as log:
        reply = await browser.get("/set?fresh=1")
        assert reply.code == 200 and reply.json()["new"] is True and reply.set_cookies
        assert sent(await log.take()) == ["EVALSHA save"]


@pytest.mark.gen_test
@pytest.mark.parametrize("session_options", [{"touch_after": 0}], indirect=True)
async def test_a_due_touch_is_one_load_and_one_expiry_update(browser, server_log, session_options):
    await warm_up(browser)
    assert (await browser.get("/get")).code == 200  # the touch script, cached
    async with server_log() as log:
        reply = await browser.get("/get")
        assert reply.code == 200
        assert sent(await log.take()) == ["EVALSHA load", "EVALSHA touch"]


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_requests_changing_different_keys_all_keep_their_change(browser):
    assert (await browser.get("/set?base=0")).code == 200
    replies = await asyncio.gather(*(browser.get(f"/set?k{i}={i}") for i in range(25)))
    assert [reply.code for reply in replies] == [200] * 25
    data = (await browser.get("/get")).json()["data"]
    assert data == {"base": "0", **{f"k{i}": str(i) for i in range(25)}}


@pytest.mark.gen_test
async def test_the_cookie_max_age_is_the_time_left_on_the_redis_key(
    browser, store_server, key_prefix
):
    reply = await browser.get("/set?a=1")
    max_age = int(reply.cookie_attribute("max-age") or -1)
    with store_server.admin() as admin:
        (raw_key,) = admin.keys(f"{key_prefix}*")
        pttl = admin.pttl(raw_key)
    assert max_age == 14 * 24 * 3600 - 1 or max_age == 14 * 24 * 3600
    assert abs(max_age - pttl / 1000) <= 1.0


@pytest.mark.gen_test(timeout=20)
@pytest.mark.parametrize("session_options", [{"max_age": 2.0}], indirect=True)
async def test_a_session_redis_has_expired_starts_over(
    browser, store_server, key_prefix, session_options
):
    first = await browser.get("/set?a=1")
    assert first.code == 200 and first.json()["new"] is True
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
    with store_server.admin() as admin:
        (raw_key,) = admin.keys(f"{key_prefix}*")
        deadline = time.monotonic() + 10
        while admin.exists(raw_key):  # Redis removes the key itself once the TTL runs out
            assert time.monotonic() < deadline, "Redis never expired the session key"
            await asyncio.sleep(0.05)
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {}, "new": True}


@pytest.mark.gen_test
@pytest.mark.parametrize("store_setting", ["url"], indirect=True)
async def test_a_store_url_in_the_options_resolves_to_this_plugin(
    app, browser, store_setting, store_server, key_prefix
):
    reply = await browser.get("/set?a=1")
    assert reply.code == 200 and reply.set_cookies
    store = session_runtime(app).store
    assert isinstance(store, RedisStore)
    assert store.prefix == key_prefix and store.timeout == 2.0 and store.enforces_timeout
    with store_server.admin() as admin:
        assert len(admin.keys(f"{key_prefix}*")) == 1
    assert (await browser.get("/get")).json() == {"data": {"a": "1"}, "new": False}
