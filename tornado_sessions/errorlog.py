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
import time

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
    """Rate-limited logging of store failures; see the module docstring."""

    __slots__ = ("_failing", "_interval", "_last_logged", "_suppressed", "_total")

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._failing = False
        self._last_logged = 0.0
        self._suppressed = 0
        self._total = 0

    def failed(self, error: BaseException, *, status: int) -> None:
        """A request failed because of ``error``; it was answered with ``status``."""
        now = time.monotonic()
        self._total += 1
        if not self._failing:
            self._failing = True
            self._last_logged = now
            self._suppressed = 0
            log.error(
                "session store failed; answering %d until it recovers: %s",
                status,
                describe(error),
                exc_info=error,
            )
        elif now - self._last_logged >= self._interval:
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
        """A store call succeeded: end the burst, if there was one."""
        if self._failing:
            self._failing = False
            log.warning("session store recovered after %d failed requests", self._total)
            self._total = 0
