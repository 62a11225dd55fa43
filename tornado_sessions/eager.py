"""Running a coroutine at once, without a task, for as long as it does not wait.

Saving a session is a coroutine (the store's methods are ``async``), but many
stores finish without ever waiting: the memory store always, a cache hit often.
Wrapping each save in an :class:`asyncio.Task` would cost a task object and a turn
of the event loop on every request that writes.  :func:`start` instead steps the
coroutine right away; if it completes, its result is returned directly, and only
if it suspends is the rest handed to a task, which picks it up exactly where it
stopped.  (Python 3.12 offers the same idea as ``asyncio.eager_task_factory``; this
works per call and on 3.11.)

Only for coroutines that do not care which task runs them: code that captures
:func:`asyncio.current_task` before its first wait (``asyncio.timeout`` does)
would capture the caller's task.  The mixin therefore starts eagerly only writes
to stores that declare ``never_waits``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Started", "start"]

T = TypeVar("T")


class Started(Generic[T]):
    """The outcome of :func:`start`: a ``result``, or a ``task`` still running."""

    __slots__ = ("result", "task")

    def __init__(self, result: T | None, task: asyncio.Task[T] | None) -> None:
        self.result = result
        self.task = task


def start(coro: Coroutine[Any, Any, T]) -> Started[T]:
    """Run ``coro`` until it first waits; continue it in a task only if it does.

    Exceptions raised before the first wait propagate to the caller.
    """
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return Started(done.value, None)
    return Started(None, asyncio.ensure_future(_continue(coro, yielded)))


async def _continue(coro: Coroutine[Any, Any, T], yielded: Any) -> T:
    return await _Resume(coro, yielded)


class _Resume(Generic[T]):
    """Awaitable that hands a started coroutine's pending wait to the running task."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, T], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, T]:
        coro, waiting = self._coro, self._yielded
        while True:
            try:
                sent = yield waiting  # the task waits on what the coroutine waited on
            except BaseException as exc:  # cancellation, or an error thrown in
                try:
                    waiting = coro.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
