"""The session cookie on the wire: reading it from a request, writing ``Set-Cookie`` headers.

Tornado's :meth:`~tornado.web.RequestHandler.set_cookie` is not used: its
defaults are unsafe for a session cookie (``httponly=False``, ``secure=False``,
no SameSite), it drops ``max_age=0``, and Python before 3.14 refuses the
``Partitioned`` attribute.  The header is built here from options validated when
:class:`~tornado_sessions.options.SessionOptions` was constructed.

Reading: the raw ``Cookie`` headers are scanned for our name.  Tornado's parsed
``request.cookies`` keeps only the last of two same-named cookies; here every
occurrence is returned, so the caller can see a request that carries our name
twice.  That is what *cookie tossing* looks like: a sibling subdomain set
``name=<its own session>; Domain=<parent>``, and the browser sends both.  Neither
copy can be trusted, so the core then treats the request as carrying no session,
and :meth:`CookieWriter.clear_tossed` answers with deletions aimed at the parent
domains, where a sibling can set cookies and this host's own cookie is not.

Secure: with ``cookie_secure="auto"`` the cookie is ``Secure`` when the request
came over https, which Tornado reports as ``request.protocol`` (behind a proxy:
``HTTPServer(xheaders=True)``), or, with ``trust_proxy``, when the *last*
``X-Forwarded-Proto`` value says so (the nearest proxy appends it last).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from email.utils import formatdate
from typing import Any

from tornado.httputil import HTTPHeaders

__all__ = ["CookieWriter", "read_cookie"]

log = logging.getLogger("tornado_sessions")

#: Path prefixes of the request path tried when clearing tossed cookies.
_MAX_TOSSED_PATHS = 4
_HOSTNAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+=:@%-]+")


def read_cookie(headers: HTTPHeaders, name: str) -> tuple[str, ...]:
    """Every value of cookie ``name`` the request carries, in order (usually one or none)."""
    found: tuple[str, ...] = ()
    for header in headers.get_list("Cookie"):
        if name not in header:
            continue
        for chunk in header.split(";"):
            key, eq, value = chunk.partition("=")
            if eq and key.strip() == name:
                found += (value.strip().strip('"'),)
    return found


_last_date: tuple[int, str] = (0, "")


def _http_date(timestamp: int) -> str:
    """``formatdate`` with a one-entry cache: one format per second, not per response."""
    global _last_date
    if _last_date[0] != timestamp:
        _last_date = (timestamp, formatdate(timestamp, usegmt=True))
    return _last_date[1]


class CookieWriter:
    """Builds the session's ``Set-Cookie`` values for one cookie name and attribute set."""

    __slots__ = (
        "_domain",
        "_flags",
        "_name",
        "_path",
        "_samesite_none",
        "_scope",
        "_secure",
        "_trust_proxy",
        "_warned",
    )

    def __init__(
        self,
        name: str,
        *,
        path: str,
        domain: str | None,
        httponly: bool,
        samesite: str | None,
        partitioned: bool,
        secure: bool | str,
        trust_proxy: bool,
    ) -> None:
        self._name = name
        self._path = path
        self._domain = domain
        self._scope = f"; Path={path}" + (f"; Domain={domain}" if domain else "")
        flags = ["HttpOnly"] if httponly else []
        if samesite:
            flags.append(f"SameSite={samesite}")
        if partitioned:
            flags.append("Partitioned")
        self._flags = "".join(f"; {flag}" for flag in flags)
        self._samesite_none = samesite == "None" or partitioned
        self._secure = secure
        self._trust_proxy = trust_proxy
        self._warned = False

    def set(self, request: Any, value: str, *, max_age: int | None) -> str:
        """A cookie carrying ``value``; ``max_age=None`` makes a browser-session cookie."""
        lifetime = ""
        if max_age is not None:
            max_age = max(max_age, 0)
            lifetime = f"; Expires={_http_date(int(time.time()) + max_age)}; Max-Age={max_age}"
        return f"{self._name}={value}{self._scope}{lifetime}{self._tail(request)}"

    def clear(self, request: Any) -> str:
        """A header that makes the browser delete the cookie (same Path, Domain and flags)."""
        return self._deletion(self._scope, self._tail(request))

    def clear_tossed(self, request: Any) -> list[str]:
        """Deletions of same-named cookies a sibling subdomain may have set.

        One per parent domain of the request's host (never the host itself, whose
        host-only cookie may be the user's own) and per prefix of the request path.
        """
        tail = self._tail(request)
        paths = _path_prefixes(request.path)
        headers = []
        for domain in _parent_domains(request.host_name):
            for path in paths:
                if domain == self._domain and path == self._path:
                    continue  # our own cookie's place: it may well be the user's
                headers.append(self._deletion(f"; Path={path}; Domain={domain}", tail))
        return headers

    def _deletion(self, scope: str, tail: str) -> str:
        return f"{self._name}={scope}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0{tail}"

    def _tail(self, request: Any) -> str:
        if self.is_secure(request):
            return f"; Secure{self._flags}"
        return self._flags

    def is_secure(self, request: Any) -> bool:
        """Whether the cookie sent in answer to ``request`` carries ``Secure``."""
        setting = self._secure
        if setting is not True and setting is not False:  # "auto"
            if self._https(request):
                return True
            if self._samesite_none:
                self._warn_once(
                    "sending a SameSite=None or Partitioned session cookie over plain http "
                    "(%s) without Secure: browsers reject such a cookie, so sessions will not "
                    "stick; serve over https, run HTTPServer(xheaders=True) or set "
                    "trust_proxy=True behind a TLS proxy",
                    request.host,
                )
            return False
        if setting and not self._https(request):
            self._warn_once(
                "sending a Secure session cookie over plain http (%s): browsers other than "
                "for localhost will drop it, so sessions will not stick; serve over https, "
                "run HTTPServer(xheaders=True) or set trust_proxy=True behind a TLS proxy, "
                "or use cookie_secure='auto'",
                request.host,
            )
        return setting

    def _https(self, request: Any) -> bool:
        if request.protocol == "https":
            return True
        if not self._trust_proxy:
            return False
        forwarded: str = request.headers.get("X-Forwarded-Proto", "")
        return forwarded.rpartition(",")[2].strip().lower() == "https"

    def _warn_once(self, message: str, *args: object) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message, *args)


def _parent_domains(host: str) -> list[str]:
    """``a.b.example.com`` -> ``["b.example.com", "example.com"]``; none for IPs or one label."""
    host = host.rstrip(".").lower()
    if not _HOSTNAME.fullmatch(host):
        return []
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    return []


def _path_prefixes(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a", "/a/b", "/a/b/c"]``, at most a few."""
    prefixes = ["/"]
    parts = []
    for part in path.split("?", 1)[0].split("/"):
        if part:
            if not _PATH_SEGMENT.fullmatch(part):  # nothing that could break the header
                break
            parts.append(part)
    for i in range(1, min(len(parts), _MAX_TOSSED_PATHS - 1) + 1):
        prefixes.append("/" + "/".join(parts[:i]))
    return prefixes
