"""Faults, at the store and through HTTP: a stopped server fails fast, a frozen one within
the core's timeout, and the same store (the same running app) recovers afterwards."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from tornado_sessions_postgres import PostgresStore

from tornado_sessions import Record

STORE_TIMEOUT = 0.5
SLACK = 0.5  # HTTP round trip, error page, scheduling


def rec() -> Record:
    return Record({"a": b"1"}, b"m", time.time() + 600)


@pytest.mark.gen_test(timeout=60)
async def test_stopped_server_fails_fast_and_the_same_store_recovers_after_restart(
    private_postgres,
):
    store = PostgresStore(private_postgres.url, timeout=STORE_TIMEOUT)
    await store.open()
    try:
        await store.save("k", rec())
        private_postgres.stop()
        for _ in range(3):  # the pooled connection is gone, then connections are refused
            started = time.monotonic()
            with pytest.raises(Exception):  # noqa: B017 - asyncpg or OS errors, by timing
                await asyncio.wait_for(store.load("k"), STORE_TIMEOUT)
            assert time.monotonic() - started < STORE_TIMEOUT
        private_postgres.restart()  # same port, same data directory
        deadline = time.monotonic() + 10
        while True:  # the pool drops broken connections and opens new ones
            try:
                loaded = await asyncio.wait_for(store.load("k"), STORE_TIMEOUT)
                break
            except Exception:
                assert time.monotonic() < deadline, "the store never recovered"
        assert loaded is not None and loaded.fields["a"] == b"1"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_frozen_server_is_bounded_by_the_core_timeout_and_the_store_recovers(
    private_postgres,
):
    store = PostgresStore(f"{private_postgres.url}?max_size=2", timeout=STORE_TIMEOUT)
    await store.open()
    try:
        await store.save("k", rec())
        private_postgres.pause()  # the kernel still accepts connections; nothing answers
        for operation in (
            lambda: store.load("k"),
            lambda: store.save("k", rec()),
            lambda: store.touch("k", time.time() + 60),
        ):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(operation(), STORE_TIMEOUT)  # as the core does
            assert time.monotonic() - started < STORE_TIMEOUT + SLACK
        private_postgres.resume()
        loaded = await asyncio.wait_for(store.load("k"), 5)
        assert loaded is not None and loaded.fields["a"] == b"1"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=20)
async def test_no_server_at_all_fails_in_open():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{port}/db", timeout=STORE_TIMEOUT)
    started = time.monotonic()
    with pytest.raises(OSError):
        await store.open()
    assert time.monotonic() - started < STORE_TIMEOUT + SLACK
    await store.close()


# -- through HTTP: the app keeps running throughout -----------------------------


@pytest.fixture
def store_server(private_postgres):
    """The HTTP tests' app talks to a server of its own, which they stop and freeze."""
    return private_postgres


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


@pytest.mark.gen_test(timeout=60)
async def test_http_stopped_server_gives_503_fast_and_a_restart_recovers_with_the_data(
    browser, store_server
):
    assert (await browser.get("/set?a=1")).code == 200
    assert (await browser.get("/get")).json()["data"] == {"a": "1"}

    store_server.stop()
    for reply in await failing_requests(browser):
        assert reply.code == 503
        assert reply.set_cookies == []  # nothing was written, so no cookie
        assert reply.elapsed < STORE_TIMEOUT + SLACK
    assert (await browser.get("/health")).code == 200

    store_server.restart()  # same port, same data directory: the session survived
    deadline = time.monotonic() + 10
    while (reply := await browser.get("/get")).code != 200:
        assert reply.code == 503 and time.monotonic() < deadline, "the app never recovered"
    assert reply.json() == {"data": {"a": "1"}, "new": False}
    assert (await browser.get("/set?b=2")).json()["data"] == {"a": "1", "b": "2"}


@pytest.mark.gen_test(timeout=60)
async def test_http_frozen_server_gives_503_within_store_timeout_and_recovers(
    browser, store_server
):
    assert (await browser.get("/set?a=1")).code == 200

    store_server.pause()
    for reply in await failing_requests(browser):
        assert reply.code == 503 and reply.set_cookies == []
        assert STORE_TIMEOUT * 0.9 <= reply.elapsed < STORE_TIMEOUT + SLACK

    store_server.resume()
    reply = await browser.get("/get")
    assert reply.code == 200 and reply.json() == {"data": {"a": "1"}, "new": False}
    assert (await browser.get("/set?a=3")).json()["data"] == {"a": "3"}
