"""``PeriodicPurge``: a store's ``purge_expired()`` run in the background, every so often.

A store whose backend has no expiry of its own (a SQL table, MongoDB without a
TTL index) never returns an expired record, but keeps its row until something
deletes it.  :class:`PeriodicPurge` is that something: started by the store's
``open()``, it sleeps ``interval`` seconds, calls ``purge_expired()``, and again;
a failed pass is logged and the next one tries again (a background task has no
caller to raise to); the store's ``close()`` stops it.

The task runs in a fresh :mod:`contextvars` context, so nothing of the request
that happened to open the store (a tracing span, say) follows it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

__all__ = ["PeriodicPurge"]


class PeriodicPurge:
    """Calls ``purge`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        purge: Callable[[], Awaitable[object]],
        *,
        interval: float,
        what: str,
        logger: logging.Logger,
    ) -> None:
        self._purge = purge
        self.interval = interval
        #: what is purged, for the task's name and the log (a table, a collection)
        self.what = what
        self._logger = logger
        #: the background task, while one was started and not stopped
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the background task is running."""
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        """Start the task, unless it is running already."""
        if not self.running:
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name=f"purge of {self.what}", context=contextvars.Context()
            )

    async def stop(self) -> None:
        """Stop the task and wait until it has; safe to call when it never ran."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._purge()
            except Exception:
                self._logger.warning(
                    "deleting expired sessions from %s failed", self.what, exc_info=True
                )
