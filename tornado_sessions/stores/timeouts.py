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
import weakref
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


class _LoopCalls:
    """The calls in flight on one event loop, oldest first, and that loop's timer."""

    __slots__ = ("calls", "timer")

    def __init__(self) -> None:
        #: insertion order is start order, so deadline order
        self.calls: dict[_Call, None] = {}
        self.timer: asyncio.TimerHandle | None = None

    def expire(self) -> None:
        """Cancel the calls past their deadline; arm the timer for the oldest one left."""
        self.timer = None
        loop = asyncio.get_running_loop()  # the loop the timer was armed on
        now = loop.time()
        for call in self.calls:
            if call.deadline > now:
                self.timer = loop.call_at(call.deadline, self.expire)
                return
            if not call.expired:
                call.expired = True
                call.task.cancel()


class SharedTimeout:
    """Bounds every awaitable given to :meth:`run` by ``seconds``, with one timer per loop.

    One instance may serve several event loops, one after another or at once in
    different threads: each loop has its own calls and its own timer.
    """

    __slots__ = ("_loops", "seconds")

    def __init__(self, seconds: float) -> None:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"a timeout must be a positive number of seconds, not {seconds!r}")
        self.seconds = seconds
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCalls] = (
            weakref.WeakKeyDictionary()
        )

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``; :class:`TimeoutError` if it takes longer than ``seconds``.

        Must be awaited inside a task, as :func:`asyncio.timeout` must.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("SharedTimeout.run() must be awaited inside a task")
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopCalls()
        call = _Call(task, loop.time() + self.seconds)
        calls = state.calls
        calls[call] = None
        if state.timer is None:
            state.timer = loop.call_at(call.deadline, state.expire)
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
