"""``SessionClient``: test your own handlers with a cookie jar and a handle on the session.

What Django's ``client.session`` and Flask's ``session_transaction()`` give, for
Tornado: a client that talks to a running application over real HTTP (Tornado's
``AsyncHTTPClient``), keeps the cookies the application sets, and can read and
write the session those cookies name, through the same load and commit code a
request uses (so what it plants is exactly what a handler would have written)::

    from tornado_sessions.testing import SessionClient

    @pytest.mark.gen_test
    async def test_dashboard_greets_the_user(http_server, base_url, app):
        client = SessionClient(app, base_url)
        await client.start_session({"user": "alice"})   # as if alice had logged in
        response = await client.fetch("/dashboard")
        assert b"alice" in response.body
        assert (await client.session())["user"] == "alice"

It works with pytest-tornado (``http_server``, ``base_url``, ``gen_test``) and with
:class:`tornado.testing.AsyncHTTPTestCase` (keep the application ``get_app()`` returns,
then ``SessionClient(self.app, self.get_url(""), http_client=self.http_client)`` in a
``@gen_test`` method): it needs only the :class:`~tornado.web.Application` object (the
one being served, in this process) and the base URL it is served at.

The jar is deliberately simple: one application, so cookies are kept by name
(Domain and Path are not matched); a ``Set-Cookie`` with ``Max-Age=0`` or an
``Expires`` in the past removes the cookie.  ``Secure`` cookies are kept and sent
back over plain http too, as ``localhost`` is treated by browsers.

Posting a form to an application with ``xsrf_cookies=True``: ``fetch(path,
form={...})`` adds the ``_xsrf`` field, and the ``_xsrf`` cookie if the
application has not set one yet (Tornado accepts a matching cookie and field).

Outside a request there is no ``RequestHandler``: observers (hooks) called by
:meth:`SessionClient.session` and :meth:`SessionClient.session_transaction` are
given a stand-in with the two attributes a session reads from it, ``application``
and ``request`` (a ``GET /`` carrying the jar's cookies).
"""

from __future__ import annotations

import binascii
import email.utils
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import tornado.httpclient
import tornado.httputil
import tornado.web

from ..commit import commit, cookie_headers
from ..loading import load_session
from ..session import Session
from ..startup import open_sessions

__all__ = ["SessionClient"]


class SessionClient:
    """An HTTP client for one application, with a cookie jar and access to its session.

    :param app: the application being served (its ``sessions`` setting is used).
    :param base_url: where it is served, e.g. pytest-tornado's ``base_url``.
    :param http_client: the ``AsyncHTTPClient`` to use (``AsyncHTTPTestCase``'s
        ``self.http_client``); by default the current one.
    """

    def __init__(
        self,
        app: tornado.web.Application,
        base_url: str,
        *,
        http_client: tornado.httpclient.AsyncHTTPClient | None = None,
    ) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.http_client = http_client or tornado.httpclient.AsyncHTTPClient()
        #: The cookie jar: name -> value, as the application last set them.
        self.cookies: dict[str, str] = {}
        #: Every response :meth:`fetch` received, oldest first.
        self.responses: list[tornado.httpclient.HTTPResponse] = []

    # -- HTTP ---------------------------------------------------------------------

    async def fetch(
        self,
        path: str,
        *,
        method: str | None = None,
        body: str | bytes | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> tornado.httpclient.HTTPResponse:
        """Request ``path`` with the jar's cookies; the response's cookies go into the jar.

        ``form`` posts the fields url-encoded (with ``_xsrf`` added when the
        application checks it).  ``follow_redirects`` follows each redirect with
        this client, so cookies set on the way are kept.  Never raises for an
        HTTP error status: look at ``response.code``.  Other keyword arguments go
        to :class:`tornado.httpclient.HTTPRequest`.
        """
        all_headers = tornado.httputil.HTTPHeaders(dict(headers or {}))
        if form is not None:
            fields = dict(form)
            if self.app.settings.get("xsrf_cookies") and "_xsrf" not in fields:
                fields["_xsrf"] = self.xsrf_token()
            body = urlencode(fields)
            method = method or "POST"
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        method = method or ("POST" if body is not None else "GET")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        if self.cookies and "Cookie" not in all_headers:
            all_headers["Cookie"] = self.cookie_header()
        response = await self.http_client.fetch(
            self.url(path),
            method=method,
            body=body,
            headers=all_headers,
            follow_redirects=False,
            raise_error=False,
            **kwargs,
        )
        self.responses.append(response)
        self.take_cookies(response.headers)
        location = response.headers.get("Location")
        if follow_redirects and location and response.code in (301, 302, 303, 307, 308):
            if response.code in (307, 308):  # repeat the request as it was
                kwargs.update(method=method, body=body)
            target = urljoin(response.effective_url, location)
            return await self.fetch(target, headers=headers, follow_redirects=True, **kwargs)
        return response

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (a full URL is returned as is)."""
        if urlsplit(path).scheme:
            return path
        return self.base_url + "/" + path.lstrip("/")

    def cookie_header(self) -> str:
        """The ``Cookie`` header the jar sends."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def take_cookies(self, headers: tornado.httputil.HTTPHeaders) -> None:
        """Apply a response's ``Set-Cookie`` headers to the jar."""
        for header in headers.get_list("Set-Cookie"):
            self._take(header)

    def xsrf_token(self) -> str:
        """The jar's ``_xsrf`` cookie, made up (random hex, which Tornado accepts) if absent."""
        token = self.cookies.get("_xsrf")
        if token is None:
            token = self.cookies["_xsrf"] = binascii.hexlify(os.urandom(16)).decode()
        return token

    # -- the session ----------------------------------------------------------------

    @property
    def session_cookie_name(self) -> str:
        """The session cookie's name (the ``name`` option)."""
        options = self.app.settings.get("sessions")
        name: str = getattr(options, "name", "sessionid")
        return name

    @property
    def session_cookie(self) -> str | None:
        """The signed session cookie value in the jar, or ``None``."""
        return self.cookies.get(self.session_cookie_name)

    async def session(self) -> dict[str, Any] | None:
        """The data of the session the jar's cookie names, as stored; ``None`` if none.

        Reading changes nothing: no write, no touch, no cookie.  ``None`` means the
        jar has no session cookie, or its session is gone (expired, destroyed,
        never stored).
        """
        runtime = await open_sessions(self.app)
        session = await load_session(runtime, _StandIn(self.app, self._request()))
        try:
            return None if session.is_new else dict(session)
        finally:
            session.finish()

    @asynccontextmanager
    async def session_transaction(self) -> AsyncIterator[Session]:
        """The client's session, to change between requests; saved when the block ends.

        Flask's ``session_transaction()``: the session the jar's cookie names is
        loaded (a new one if there is none), the block changes it like a handler
        would (``session["user"] = ...``, ``set_max_age()``, ``regenerate()``,
        ``destroy()``), and at the end it is committed exactly as at the end of a
        request; the cookie the response would carry goes into the jar.  If the
        block raises, nothing is saved.
        """
        runtime = await open_sessions(self.app)
        request = self._request()
        session = await load_session(runtime, _StandIn(self.app, request))
        try:
            yield session
            await commit(runtime, session)
            for header in cookie_headers(runtime, session, request):
                self._take(header)
        finally:
            session.finish()

    async def start_session(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        max_age: float | Literal["default"] | None = "default",
    ) -> None:
        """Give the client a stored session holding ``data`` (replacing any it had).

        Use it to start a test in a given state, e.g. logged in, without going
        through the login form.  ``max_age``: ``"default"`` for the options'
        lifetime, seconds for a session of its own lifetime (``set_max_age``), or
        ``None`` for a browser-session cookie.
        """
        async with self.session_transaction() as session:
            if not session.is_new:
                await session.regenerate()
            session.clear()
            session.update(data or {})
            if max_age != "default":
                session.set_max_age(max_age)
            if not session.modified:
                await session.save()  # empty data: stored all the same

    async def end_session(self) -> None:
        """Destroy the client's session (a logout) and drop its cookie."""
        async with self.session_transaction() as session:
            await session.destroy()

    def _take(self, header: str) -> None:
        name, value, expired, domain = _parse_set_cookie(header)
        host = (urlsplit(self.base_url).hostname or "").lower()
        if domain and host != domain and not host.endswith("." + domain):
            return  # for another host (e.g. a parent domain this one does not belong to)
        if expired:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def _request(self) -> tornado.httputil.HTTPServerRequest:
        parts = urlsplit(self.base_url)
        headers = tornado.httputil.HTTPHeaders({"Host": parts.netloc or "127.0.0.1"})
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        request = tornado.httputil.HTTPServerRequest(
            start_line=tornado.httputil.RequestStartLine("GET", "/", "HTTP/1.1"), headers=headers
        )
        request.protocol = parts.scheme or "http"  # what cookie_secure="auto" looks at
        return request


class _StandIn:
    """What observers get as ``handler`` outside a request (see the module docstring)."""

    __slots__ = ("application", "request")

    def __init__(
        self, application: tornado.web.Application, request: tornado.httputil.HTTPServerRequest
    ) -> None:
        self.application = application
        self.request = request


def _parse_set_cookie(header: str) -> tuple[str, str, bool, str]:
    """``(name, value, expired, domain)`` of one ``Set-Cookie`` header (``domain`` may be "")."""
    first, *attributes = header.split(";")
    name, _, value = first.partition("=")
    domain = ""
    max_age: int | None = None
    expires: float | None = None
    for attribute in attributes:
        key, _, setting = attribute.strip().partition("=")
        key = key.lower()
        if key == "domain":
            domain = setting.strip().lstrip(".").lower()
        elif key == "max-age":
            with suppress(ValueError):
                max_age = int(setting)
        elif key == "expires":
            with suppress(TypeError, ValueError):
                expires = email.utils.parsedate_to_datetime(setting).timestamp()
    if max_age is not None:  # Max-Age wins over Expires
        expired = max_age <= 0
    else:
        expired = expires is not None and expires <= time.time()
    return name.strip(), value.strip().strip('"'), expired, domain
