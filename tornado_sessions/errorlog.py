"""Logging store failures so that an outage reads as a cause, not as a flood of tracebacks.

During an outage every request fails the same way.  :class:`FailureLog` logs the
first failure of a burst at ERROR with its cause chain (the driver's own
exception, which names the host and what went wrong), then at most one line per
``interval`` seconds saying how many more failed and the latest cause; when the
store answers again, one line says it recovered and how many requests failed.
No request's URL or query string is logged (they may carry personal data).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

__all__ = ["FailureLog"]

log = logging.getLogger("tornado_sessions")


def describe(error: BaseException) -> str:
    """``error`` and its causes on one line: ``outer: inner (ConnectionError: ...)``."""
    parts = [str(error) or type(error).__name__]
    cause = error.__cause__ or error.__context__
    seen = {id(error)}
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause)
        if not text or text not in parts[-1]:  # a wrapper usually repeats its cause's text
            parts.append(f"{type(cause).__name__}: {text}" if text else type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(parts)


class FailureLog:
    """Rate-limited logging of store failures; see the module docstring.

    A store that fails only in part (one Redis Cluster master down: some keys fail,
    others work) alternates failures and successes.  So a success ends the outage
    only once no failure has been seen for ``quiet`` seconds, and a new burst's
    traceback is logged only if the last line about failures is older than
    ``interval``: a flapping store gives one line per ``interval``, not one per
    request.
    """

    __slots__ = (
        "_clock",
        "_failing",
        "_interval",
        "_last_failure",
        "_last_logged",
        "_quiet",
        "_suppressed",
        "_total",
    )

    def __init__(
        self,
        interval: float = 10.0,
        *,
        quiet: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._quiet = quiet
        self._clock = clock
        self._failing = False
        self._last_logged = -math.inf
        self._last_failure = -math.inf
        self._suppressed = 0
        self._total = 0

    def failed(self, error: BaseException, *, status: int) -> None:
        """A request failed because of ``error``; it was answered with ``status``."""
        now = self._clock()
        self._total += 1
        self._last_failure = now
        if not self._failing:
            self._failing = True
            if now - self._last_logged >= self._interval:
                self._last_logged = now
                self._suppressed = 0
                log.error(
                    "session store failed; answering %d until it recovers: %s",
                    status,
                    describe(error),
                    exc_info=error,
                )
                return
        if now - self._last_logged >= self._interval:
            log.error(
                "session store still failing: %d more requests answered %d; latest: %s",
                self._suppressed + 1,
                status,
                describe(error),
            )
            self._last_logged = now
            self._suppressed = 0
        else:
            self._suppressed += 1

    def succeeded(self) -> None:
        """A store call succeeded: the outage is over if nothing failed for ``quiet`` seconds."""
        if self._failing and self._clock() - self._last_failure >= self._quiet:
            self._failing = False
            log.warning("session store recovered after %d failed requests", self._total)
            self._total = 0
