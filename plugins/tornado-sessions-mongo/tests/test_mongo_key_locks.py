"""The per-key write lock (used on servers whose updates are not atomic): its own guarantees.

No server is needed: these tests drive the lock directly.  The store-level tests
(concurrent deltas, cancellation at each await) check it in use.
"""

from __future__ import annotations

import asyncio

import pytest
from tornado_sessions_mongo.store import _KeyLocks


@pytest.mark.gen_test
async def test_uncontended_acquire_does_not_suspend() -> None:
    locks = _KeyLocks()
    acquire = locks.acquire("k").__await__()
    with pytest.raises(StopIteration):  # finished at the first step: never yielded to the loop
        acquire.send(None)
    assert len(locks) == 1
    locks.release("k")
    assert len(locks) == 0


@pytest.mark.gen_test
async def test_writers_of_one_key_run_one_at_a_time_in_arrival_order() -> None:
    locks = _KeyLocks()
    order: list[str] = []
    inside = 0

    async def writer(name: str) -> None:
        nonlocal inside
        await locks.acquire("k")
        try:
            inside += 1
            assert inside == 1
            order.append(name)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        finally:
            inside -= 1
            locks.release("k")

    await asyncio.gather(*(writer(f"w{i}") for i in range(10)))
    assert order == [f"w{i}" for i in range(10)]
    assert len(locks) == 0


@pytest.mark.gen_test
async def test_other_keys_are_not_held_up() -> None:
    locks = _KeyLocks()
    await locks.acquire("a")
    await asyncio.wait_for(locks.acquire("b"), 1)  # completes while "a" is held
    assert len(locks) == 2
    locks.release("b")
    locks.release("a")
    assert len(locks) == 0


@pytest.mark.gen_test
async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    locks = _KeyLocks()
    await locks.acquire("k")
    waiter = asyncio.ensure_future(locks.acquire("k"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    locks.release("k")
    assert len(locks) == 0


@pytest.mark.gen_test
async def test_a_waiter_cancelled_after_its_turn_came_passes_the_lock_on() -> None:
    locks = _KeyLocks()
    await locks.acquire("k")
    first = asyncio.ensure_future(locks.acquire("k"))
    second = asyncio.ensure_future(locks.acquire("k"))
    await asyncio.sleep(0)
    locks.release("k")  # hands the lock to ``first``...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # so ``second`` gets it
    locks.release("k")
    assert len(locks) == 0
