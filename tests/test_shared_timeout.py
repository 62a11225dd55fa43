"""``SharedTimeout``: many concurrent calls bounded by one timeout, with one timer.

Each test runs its own event loop (``asyncio.run``).  The timeouts are real but
short; every wait is on the event that matters (a call's end), never a sleep
standing in for one.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import pytest

from tornado_sessions.stores.timeouts import SharedTimeout


async def _never() -> None:
    await asyncio.Event().wait()


def test_calls_that_return_in_time_return_their_value_under_one_timer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        armed: list[float] = []
        call_at = loop.call_at

        def counting_call_at(when: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
            armed.append(when)
            return call_at(when, callback, *args)

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        bounded = SharedTimeout(30.0)
        release = asyncio.Event()

        async def call(value: int) -> int:
            await release.wait()
            return value

        tasks = [asyncio.ensure_future(bounded.run(call(i))) for i in range(50)]
        await asyncio.sleep(0)  # every call has started
        release.set()
        assert await asyncio.gather(*tasks) == list(range(50))
        assert len(armed) == 1, "one timer for fifty calls, not one each"

    asyncio.run(main())


def test_a_call_past_its_deadline_raises_timeout_error_and_leaves_its_task_uncancelled() -> None:
    async def main() -> None:
        bounded = SharedTimeout(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await bounded.run(_never())
        assert loop.time() - started >= 0.05
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        assert await bounded.run(asyncio.sleep(0, "still usable")) == "still usable"

    asyncio.run(main())


def test_each_call_expires_at_its_own_deadline_not_the_oldest_one() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        bounded = SharedTimeout(0.3)
        first_done = asyncio.Event()
        first = asyncio.ensure_future(bounded.run(first_done.wait()))
        await asyncio.sleep(0.1)  # the second call starts 0.1 s after the first
        second_started = loop.time()
        second = asyncio.ensure_future(bounded.run(_never()))
        first_done.set()
        await first
        # The timer was armed for the first call's deadline; it must move on to the
        # second's instead of cutting it short.
        with pytest.raises(TimeoutError):
            await second
        assert loop.time() - second_started >= 0.3 - 1e-3

    asyncio.run(main())


def test_calls_that_expire_together_all_time_out() -> None:
    async def main() -> None:
        bounded = SharedTimeout(0.05)
        outcomes = await asyncio.gather(
            *(bounded.run(_never()) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(outcome, TimeoutError) for outcome in outcomes), outcomes

    asyncio.run(main())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        bounded = SharedTimeout(30.0)
        entered = asyncio.Event()

        async def call() -> None:
            entered.set()
            await _never()

        task = asyncio.ensure_future(bounded.run(call()))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_cancellation_from_elsewhere_wins_over_an_expiry_at_the_same_time() -> None:
    async def main() -> None:
        bounded = SharedTimeout(0.05)
        caught: list[BaseException] = []

        async def call() -> None:
            try:
                await _never()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()  # a second cancellation arrives while the first is handled
                raise

        async def outer() -> None:
            try:
                await bounded.run(call())
            except BaseException as exc:
                caught.append(exc)
                raise

        with pytest.raises(asyncio.CancelledError):
            await asyncio.ensure_future(outer())
        assert isinstance(caught[0], asyncio.CancelledError)

    asyncio.run(main())


def test_a_call_that_ignores_its_expiry_returns_its_value_and_balances_the_cancel() -> None:
    async def main() -> None:
        bounded = SharedTimeout(0.05)

        async def stubborn() -> str:
            try:
                await _never()
            except asyncio.CancelledError:
                return "finished anyway"
            return "unreachable"

        assert await bounded.run(stubborn()) == "finished anyway"
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0

    asyncio.run(main())


def test_one_instance_serves_one_event_loop_after_another() -> None:
    bounded = SharedTimeout(0.05)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await bounded.run(_never())
        assert await bounded.run(asyncio.sleep(0, 1)) == 1

    asyncio.run(main())
    asyncio.run(main())


@pytest.mark.parametrize("seconds", [0, -1, math.inf, math.nan])
def test_a_timeout_must_be_a_positive_finite_number(seconds: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        SharedTimeout(seconds)


def test_loops_in_two_threads_each_keep_their_own_deadlines() -> None:
    bounded = SharedTimeout(0.2)
    outcomes: dict[str, object] = {}
    first_started = threading.Event()

    async def slow() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_started.set()
        try:
            await bounded.run(_never())
        except TimeoutError:
            outcomes["slow"] = loop.time() - started

    async def quick() -> None:
        first_started.wait()
        outcomes["quick"] = await bounded.run(asyncio.sleep(0, "done"))

    threads = [threading.Thread(target=asyncio.run, args=(work(),)) for work in (slow, quick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes["quick"] == "done"
    elapsed = outcomes["slow"]
    assert isinstance(elapsed, float) and 0.2 - 1e-3 <= elapsed < 1.5, elapsed


def test_a_call_on_one_loop_still_expires_after_another_loop_used_the_same_instance() -> None:
    bounded = SharedTimeout(0.1)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        pending = first.create_task(bounded.run(_never()))
        first.run_until_complete(asyncio.sleep(0))  # the call has started on the first loop
        assert second.run_until_complete(bounded.run(asyncio.sleep(0, 1))) == 1
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            first.run_until_complete(asyncio.wait_for(pending, 5))
        assert time.monotonic() - started < 2.0, "it expired at its own deadline, not wait_for's"
    finally:
        first.close()
        second.close()
