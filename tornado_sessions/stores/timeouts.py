"""``SharedTimeout``: one timeout for many concurrent store calls, kept by one timer.

:func:`asyncio.timeout` arms a timer for every call: a ``TimerHandle`` pushed onto
the event loop's heap (ordered by comparisons written in Python), cancelled when
the call returns and left in the heap until its time would have come.  A store
answering a few thousand calls a second under a 2 s timeout keeps thousands of
dead handles in that heap, and the bookkeeping costs about as much CPU as the rest
of a store call, for every timer the loop runs, not only the store's.

Calls that share one timeout expire in the order they started, so one timer is
enough.  It is armed for the oldest call in flight; when it fires, every call past
its deadline is cancelled, and it is armed again for the oldest call left.  A call
that returns in time only enters and leaves a dict.

An expired call ends as it would under :func:`asyncio.timeout`: its task is
cancelled, and the :class:`asyncio.CancelledError` becomes :class:`TimeoutError`
where :meth:`SharedTimeout.run` awaited it, unless the task was also cancelled
from elsewhere, in which case the cancellation goes on.  The core bounds every
call of a store that does not bound its own (``Store.enforces_timeout``) this way;
a store that bounds its calls itself can use it too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["SharedTimeout"]

T = TypeVar("T")


class _Call:
    """One awaited call: its task, its deadline, and whether the timer cancelled it."""

    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        #: the task's pending cancellations when the call began (see Task.cancelling())
        self.cancelling = task.cancelling()
        self.expired = False


class SharedTimeout:
    """Bounds every awaitable given to :meth:`run` by ``seconds``, with one timer per loop."""

    __slots__ = ("_calls", "_loop", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"a timeout must be a positive number of seconds, not {seconds!r}")
        self.seconds = seconds
        #: calls in flight, oldest first (so in deadline order)
        self._calls: dict[_Call, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; :class:`TimeoutError` if it takes longer than ``seconds``.

        Must be awaited inside a task, as :func:`asyncio.timeout` must.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("SharedTimeout.run() must be awaited inside a task")
        if loop is not self._loop:  # first use, or a new event loop: start afresh
            self._loop, self._calls, self._timer = loop, {}, None
        calls = self._calls
        call = _Call(task, loop.time() + self.seconds)
        calls[call] = None
        if self._timer is None:
            self._timer = loop.call_at(call.deadline, self._expire)
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            if call.expired:
                call.expired = False  # its cancel() is balanced here, not below
                if task.uncancel() <= call.cancelling:
                    raise TimeoutError from exc
            raise
        finally:
            del calls[call]
            if call.expired:  # cancelled by the timer, yet it ended otherwise
                task.uncancel()

    def _expire(self) -> None:
        """Cancel the calls past their deadline; arm the timer for the oldest one left."""
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for call in self._calls:
            if call.deadline > now:
                self._timer = loop.call_at(call.deadline, self._expire)
                return
            if not call.expired:
                call.expired = True
                call.task.cancel()
