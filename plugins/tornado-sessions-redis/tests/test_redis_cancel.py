"""Cancelling a store call at any of its awaits leaves the store usable and its replies right.

The core cancels a store call when ``store_timeout`` passes.  A client that
sent a command and was cancelled before reading the reply must not hand that
connection (and its pending reply) to the next command: the next call would read
someone else's session.  Each operation is started, cancelled after 0, 1, 2...
turns of the event loop (so at every suspension point it has, including the
connection handshake and the ``NOSCRIPT`` fallback) until it completes; after
every cancellation the same store must write and read back a record of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest
from tornado_sessions_redis import RedisStore

from tornado_sessions import Changes, Record

Operation = Callable[[RedisStore], Awaitable[object]]


def rec(value: str) -> Record:
    return Record({"v": value.encode()}, b"m", time.time() + 600)


OPERATIONS: dict[str, Operation] = {
    "open": lambda store: store.open(),
    "load": lambda store: store.load("victim"),
    "save": lambda store: store.save("victim", rec("saved")),
    "save_changes": lambda store: store.save_changes(
        "victim", Changes(updated={"w": b"1"}), b"m", time.time() + 600
    ),
    "touch": lambda store: store.touch("victim", time.time() + 600),
    "destroy": lambda store: store.destroy("victim"),
    "count": lambda store: store.count(),
}

MAX_TURNS = 2000  # far more loop turns than any operation takes on loopback


async def cancel_at_every_await(store: RedisStore, operation: Operation, flush) -> int:
    """Cancel ``operation`` after n loop turns for n = 0, 1, ...; return how many were cut."""
    for turns in itertools.count():
        assert turns < MAX_TURNS, "the operation never completed"
        await store.save("victim", rec(f"victim-{turns}"))
        flush()  # the scripts are unknown again: the NOSCRIPT fallback is cut too
        task = asyncio.ensure_future(operation(store))
        for _ in range(turns):
            await asyncio.sleep(0)
        if task.done():
            await task
            return turns
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # The same store, at once: its replies are its own, not the cancelled call's.
        await store.save(f"check-{turns}", rec(f"check-{turns}"))
        loaded = await store.load(f"check-{turns}")
        assert loaded is not None and loaded.fields == {"v": f"check-{turns}".encode()}
        assert await store.touch(f"check-{turns}", time.time() + 60) is True
        await store.destroy(f"check-{turns}")
        assert await store.load(f"check-{turns}") is None
    raise AssertionError("unreachable")


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_a_cancelled_call_leaves_a_single_node_store_usable(
    redis_server, key_prefix, name
):
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=2.0)
    admin = redis_server.admin()
    try:
        cut = await cancel_at_every_await(store, OPERATIONS[name], admin.script_flush)
        assert cut > 0  # the operation did suspend, and was cut at each point
    finally:
        admin.close()
        await store.close()


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_a_cancelled_call_leaves_a_cluster_store_usable(redis_cluster, key_prefix, name):
    store = RedisStore.from_url(f"{redis_cluster.url}?prefix={key_prefix}", timeout=2.0)
    admins = [node.admin() for node in redis_cluster.nodes]

    def flush() -> None:
        for admin in admins:
            admin.script_flush()

    try:
        cut = await cancel_at_every_await(store, OPERATIONS[name], flush)
        assert cut > 0
    finally:
        for admin in admins:
            admin.close()
        await store.close()
