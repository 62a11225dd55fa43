"""Telling plugins what happened: lifecycle observers that can neither block nor break a request.

Observer hooks (``tornado_sessions_session_loaded`` and the rest, see
:mod:`tornado_sessions.hooks`) are called through :meth:`Observers.notify`, which
isolates each implementation: one that raises is logged and the others still run,
and the request goes on as if nothing happened.  An implementation that returns
an awaitable (an ``async def`` observer) is run in a task of its own, so it never
holds the response up; its failure is logged the same way.  With no observer
registered for a hook, a notification costs one list copy and nothing else.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import pluggy

__all__ = ["Observers"]

log = logging.getLogger("tornado_sessions")


class Observers:
    """Calls the observer hooks of one plugin manager, each implementation isolated."""

    __slots__ = ("_hook", "_running")

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._hook = manager.hook
        #: async observers still running (a task must be referenced until it ends)
        self._running: set[asyncio.Future[Any]] = set()

    def caller(self, hook_name: str) -> Any:
        """pluggy's caller of ``hook_name`` (``get_hookimpls()`` says if anyone listens)."""
        return getattr(self._hook, hook_name)

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name`` with ``kwargs``; never raises."""
        implementations = getattr(self._hook, hook_name).get_hookimpls()
        for implementation in implementations:
            try:
                result = implementation.function(
                    *[kwargs[name] for name in implementation.argnames]
                )
                if inspect.isawaitable(result):
                    self._run_in_background(hook_name, implementation.plugin_name, result)
            except Exception:
                log.exception(
                    "observer %s of %s failed; the request goes on",
                    implementation.plugin_name,
                    hook_name,
                )

    def _run_in_background(self, hook_name: str, plugin: str, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._running.add(task)

        def done(task: asyncio.Future[Any]) -> None:
            self._running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "observer %s of %s failed; the request went on",
                    plugin,
                    hook_name,
                    exc_info=task.exception(),
                )

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for the async observers still running (at shutdown)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
