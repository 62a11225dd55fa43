"""Fixtures for the SQLite store's tests: a database on a temporary file per test.

SQLite needs no server: ``sqlite_url`` names a new file in pytest's ``tmp_path``.
For the HTTP tests, ``app`` is a Tornado application whose sessions live in a
:class:`SQLiteStore` on that file (``store_setting``: ``"instance"``, or ``"url"`` to
go through the plugin registry); ``browser`` keeps the session cookie from real
``Set-Cookie`` headers and sends it back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web
from tornado_sessions_sqlite import SQLiteStore

from tornado_sessions import SessionMixin, SessionOptions, close_sessions


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def sqlite_url(sqlite_path: Path) -> str:
    """``sqlite:///`` + an absolute path (four slashes in all)."""
    return f"sqlite:///{sqlite_path}"


# -- an application over HTTP -------------------------------------------------------

SECRET = "x" * 32


class _SessionHandler(SessionMixin, tornado.web.RequestHandler):
    def dump(self, session: Any) -> None:
        self.write({"data": dict(session), "new": session.is_new})


class GetHandler(_SessionHandler):
    """``/get``: the session, read only."""

    async def get(self) -> None:
        self.dump(await self.get_session())


class SetHandler(_SessionHandler):
    """``/set?k=v&...``: set keys."""

    async def get(self) -> None:
        session = await self.get_session()
        for name, values in self.request.query_arguments.items():
            session[name] = values[-1].decode()
        self.dump(session)


class HealthHandler(SessionMixin, tornado.web.RequestHandler):
    """``/health``: never asks for the session."""

    def get(self) -> None:
        self.write("ok")


HANDLERS = [(r"/get", GetHandler), (r"/set", SetHandler), (r"/health", HealthHandler)]


@pytest.fixture
def session_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra ``SessionOptions`` keywords; parametrize indirectly to change them."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def store_setting(request: pytest.FixtureRequest) -> str:
    """``"instance"``: a SQLiteStore in the options; ``"url"``: its URL, resolved by the plugin."""
    return str(getattr(request, "param", "instance"))


@pytest.fixture
def app(
    sqlite_url: str,
    session_options: dict[str, Any],
    store_setting: str,
    io_loop: tornado.ioloop.IOLoop,
) -> Iterator[tornado.web.Application]:
    url = sqlite_url
    timeout = session_options.get("store_timeout", 2.0)
    store = url if store_setting == "url" else SQLiteStore.from_url(url, timeout=timeout)
    options = SessionOptions(secret=SECRET, store=store, **session_options)
    application = tornado.web.Application(HANDLERS, sessions=options)
    yield application
    io_loop.run_sync(lambda: close_sessions(application))


@dataclass
class Reply:
    """One response as the test sees it."""

    code: int
    body: bytes
    set_cookies: list[str]
    elapsed: float

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def cookie_attribute(self, name: str) -> str | None:
        assert len(self.set_cookies) == 1, self.set_cookies
        for part in self.set_cookies[0].split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == name:
                return value
        return None


class Browser:
    """Keeps the ``sessionid`` cookie from real ``Set-Cookie`` headers and sends it back."""

    def __init__(self, http_client: tornado.httpclient.AsyncHTTPClient, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.cookie: str | None = None

    async def get(self, path: str, *, timeout: float = 10.0) -> Reply:
        headers = {"Cookie": f"sessionid={self.cookie}"} if self.cookie else {}
        started = time.monotonic()
        response = await self.http_client.fetch(
            self.base_url + path, headers=headers, raise_error=False, request_timeout=timeout
        )
        elapsed = time.monotonic() - started
        cookies = [
            header
            for header in response.headers.get_list("Set-Cookie")
            if header.startswith("sessionid=")
        ]
        if cookies:
            value = cookies[-1].split(";", 1)[0].split("=", 1)[1]
            cleared = "max-age=0" in cookies[-1].lower().replace(" ", "")
            self.cookie = None if cleared or not value else value
        return Reply(response.code, response.body or b"", cookies, elapsed)


@pytest.fixture
def browser(
    app: tornado.web.Application, http_server: Any, http_client: Any, base_url: str
) -> Browser:
    # ``app`` first: if the servers are missing, the test is skipped before
    # pytest-tornado binds a port it would then never close.
    return Browser(http_client, base_url)
