"""Store-level faults: stopped server fails fast, a frozen one within the timeout, both recover."""

from __future__ import annotations

import socket
import time

import pytest
import redis.asyncio
import redis.exceptions
from tornado_sessions_redis import RedisStore

from tornado_sessions import Record

TIMEOUT = 0.5
SLACK = 0.4  # scheduling and teardown of the failed connection


def rec() -> Record:
    return Record({"a": b"1"}, b"m", time.time() + 600)


@pytest.mark.gen_test(timeout=20)
async def test_stopped_server_fails_fast_and_the_same_store_recovers_after_restart(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT)
    try:
        await store.save("k", rec())
        assert await store.load("k") is not None  # a pooled connection now exists

        private_redis.stop()
        for _ in range(3):  # the stale pooled connection, then fresh connection attempts
            started = time.monotonic()
            with pytest.raises(redis.exceptions.ConnectionError):
                await store.load("k")
            assert time.monotonic() - started < TIMEOUT

        private_redis.restart()  # same port, empty (no persistence)
        assert await store.load("k") is None
        await store.save("k", rec())
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields["a"] == b"1"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=20)
async def test_frozen_server_times_out_within_the_store_timeout_and_recovers(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT)
    try:
        await store.save("k", rec())
        private_redis.pause()  # the kernel still accepts connections; nothing answers
        for operation in (
            lambda: store.load("k"),  # on the pooled connection
            lambda: store.save("k", rec()),  # on a new connection (the old one was dropped)
            lambda: store.touch("k", time.time() + 60),
        ):
            started = time.monotonic()
            with pytest.raises((TimeoutError, redis.exceptions.TimeoutError)):
                await operation()
            elapsed = time.monotonic() - started
            assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK

        private_redis.resume()
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields["a"] == b"1"
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=20)
async def test_a_passed_in_client_is_bounded_by_the_store_timeout(private_redis):
    client = redis.asyncio.Redis(host=private_redis.host, port=private_redis.port)
    try:
        store = RedisStore(client, timeout=TIMEOUT)
        assert store.enforces_timeout is True
        await store.save("k", rec())
        private_redis.pause()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await store.load("k")
        assert time.monotonic() - started < TIMEOUT + SLACK
        private_redis.resume()
        assert await store.load("k") is not None
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=20)
async def test_no_server_at_all_fails_fast():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=TIMEOUT)
    try:
        started = time.monotonic()
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.load("k")
        assert time.monotonic() - started < TIMEOUT
    finally:
        await store.close()
