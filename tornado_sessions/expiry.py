"""When a session expires, and whether its cookie carries that date: pure arithmetic.

Three numbers decide a session's end, all in seconds:

- its lifetime: the session's own ``set_max_age(seconds)``, else the options' ``max_age``.
  ``set_max_age(None)`` (a browser-session cookie) keeps the options' ``max_age`` on the
  server: the record still dies after that much idleness;
- ``absolute_timeout``: a hard limit counted from ``created_at``, whatever the activity;
- the moment of the write: every write or touch sets ``expires_at`` to ``now + lifetime``,
  capped by the absolute limit.

The cookie's ``Max-Age`` is the time left on the stored record, so browser and store
agree; a browser-session cookie carries none.
"""

from __future__ import annotations

__all__ = ["expiry", "lifetime", "persistent"]


def lifetime(own_max_age: float | bool | None, default_max_age: float) -> float:
    """Seconds of idleness after which a session ends on the server."""
    if own_max_age is None or own_max_age is False or own_max_age is True:
        return default_max_age
    return own_max_age


def expiry(now: float, seconds: float, created_at: float, absolute_timeout: float | None) -> float:
    """``expires_at`` of a session written (or touched) at ``now``."""
    expires = now + seconds
    if absolute_timeout is not None:
        expires = min(expires, created_at + absolute_timeout)
    return expires


def persistent(own_max_age: float | bool | None, browser_session_cookie: bool) -> bool:
    """Whether the session's cookie carries ``Max-Age`` (else it ends with the browser)."""
    if own_max_age is None:
        return not browser_session_cookie
    return own_max_age is not False
