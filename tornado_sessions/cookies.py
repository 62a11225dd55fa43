"""Reading our cookie from a request and writing ``Set-Cookie`` headers.

Tornado's :meth:`~tornado.web.RequestHandler.set_cookie` is not used: its
defaults are unsafe for a session cookie (``httponly=False``, ``secure=False``,
no SameSite), it drops ``max_age=0``, and Python before 3.14 refuses the
``Partitioned`` attribute.  The header is built here from options validated when
:class:`~tornado_sessions.options.SessionOptions` was constructed.

Reading: the raw ``Cookie`` headers are scanned for our name.  Tornado's parsed
``request.cookies`` keeps only the last of two same-named cookies; a request that
carries our name twice (cookie tossing from a sibling domain, or a stale
path-scoped copy) is reported as :data:`DUPLICATE` and treated as carrying none.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Final

from tornado.httputil import HTTPHeaders

__all__ = ["DUPLICATE", "CookieFormat", "read_cookie"]

#: Returned by :func:`read_cookie` when the name occurs more than once.
DUPLICATE: Final = "\x00duplicate"


def read_cookie(headers: HTTPHeaders, name: str) -> str | None:
    """The value of cookie ``name``; ``None`` if absent; :data:`DUPLICATE` if repeated."""
    found: str | None = None
    for header in headers.get_list("Cookie"):
        if name not in header:
            continue
        for chunk in header.split(";"):
            key, eq, value = chunk.partition("=")
            if eq and key.strip() == name:
                if found is not None:
                    return DUPLICATE
                found = value.strip().strip('"')
    return found


_last_date: tuple[int, str] = (0, "")


def _http_date(timestamp: int) -> str:
    """``formatdate`` with a one-entry cache: one format per second, not per response."""
    global _last_date
    if _last_date[0] != timestamp:
        _last_date = (timestamp, formatdate(timestamp, usegmt=True))
    return _last_date[1]


class CookieFormat:
    """Builds the ``Set-Cookie`` header values for one cookie name and attribute set."""

    __slots__ = ("_clear_suffix", "_name", "_suffix")

    def __init__(
        self,
        name: str,
        *,
        path: str,
        domain: str | None,
        httponly: bool,
        samesite: str | None,
        partitioned: bool,
    ) -> None:
        self._name = name
        parts = [f"Path={path}"]
        if domain:
            parts.append(f"Domain={domain}")
        suffix = ["HttpOnly"] if httponly else []
        if samesite:
            suffix.append(f"SameSite={samesite}")
        if partitioned:
            suffix.append("Partitioned")
        self._suffix = "; ".join(["", *parts])
        self._clear_suffix = "; ".join(suffix)

    def _tail(self, secure: bool) -> str:
        flags = self._clear_suffix
        if secure:
            flags = f"Secure; {flags}" if flags else "Secure"
        return f"; {flags}" if flags else ""

    def set(self, value: str, *, max_age: int | None, secure: bool) -> str:
        """A cookie carrying ``value``; ``max_age=None`` makes a browser-session cookie."""
        lifetime = ""
        if max_age is not None:
            max_age = max(max_age, 0)
            lifetime = f"; Expires={_http_date(int(time.time()) + max_age)}; Max-Age={max_age}"
        return f"{self._name}={value}{self._suffix}{lifetime}{self._tail(secure)}"

    def clear(self, *, secure: bool) -> str:
        """A header that makes the browser delete the cookie (same Path, Domain and flags)."""
        return (
            f"{self._name}={self._suffix}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
            f"{self._tail(secure)}"
        )
