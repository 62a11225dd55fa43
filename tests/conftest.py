"""Shared fixtures for the core tests: a cookie-keeping HTTP client and a counting store.

The client is the public :class:`tornado_sessions.testing.SessionClient`, wrapped so
that tests read each response's session ``Set-Cookie`` already parsed.

Every HTTP test runs a real Tornado server (pytest-tornado's ``http_server``) and
talks to it over a real socket; cookies are read from real ``Set-Cookie`` headers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import tornado.httpclient
import tornado.web

from tornado_sessions import Changes, MemoryStore, Record, SessionOptions
from tornado_sessions.startup import PROBE_KEY
from tornado_sessions.testing import SessionClient

SECRET = "s" * 32


class CountingStore(MemoryStore):
    """A memory store that counts calls by method and remembers the deltas it was given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: Counter[str] = Counter()
        self.deltas: list[Changes] = []
        self.fail: set[str] = set()

    def _enter(self, name: str, key: str = "") -> None:
        if key == PROBE_KEY:  # open_sessions' round trip at start-up is not a request's
            return
        self.calls[name] += 1
        if name in self.fail:
            raise ConnectionError(f"simulated {name} failure")

    async def load(self, key: str) -> Record | None:
        self._enter("load", key)
        return await super().load(key)

    async def save(self, key: str, record: Record) -> None:
        self._enter("save")
        await super().save(key, record)

    async def destroy(self, key: str) -> None:
        self._enter("destroy")
        await super().destroy(key)

    async def touch(self, key: str, expires_at: float) -> bool:
        self._enter("touch")
        return await super().touch(key, expires_at)

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        self._enter("save_changes")
        self.deltas.append(changes)
        return await super().save_changes(key, changes, meta, expires_at)

    def total(self) -> int:
        return sum(self.calls.values())


class Response:
    """What a test looks at: status, body, and the parsed ``Set-Cookie`` headers."""

    def __init__(self, response: tornado.httpclient.HTTPResponse, name: str) -> None:
        self.code = response.code
        self.body = response.body
        self.headers = response.headers
        self.raw_cookies = [
            h for h in response.headers.get_list("Set-Cookie") if h.startswith(f"{name}=")
        ]
        self.cookie: dict[str, str] | None = None
        if self.raw_cookies:
            assert len(self.raw_cookies) == 1, self.raw_cookies
            self.cookie = parse_set_cookie(self.raw_cookies[0])

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def parse_set_cookie(header: str) -> dict[str, str]:
    """``{"value": ..., "max-age": ..., "httponly": "", ...}`` with lower-cased attribute names."""
    first, *attributes = header.split(";")
    result = {"value": first.split("=", 1)[1]}
    for attribute in attributes:
        key, _, value = attribute.strip().partition("=")
        result[key.lower()] = value
    return result


class Client:
    """A minimal browser: the public :class:`SessionClient`, seen through :class:`Response`.

    ``value`` is the session cookie in its jar; ``fetch(..., cookie=...)`` sends
    that value instead, for one request, and a ``Cookie`` header passed in
    ``headers`` is sent exactly as given.
    """

    def __init__(
        self, app: tornado.web.Application, base_url: str, name: str = "sessionid"
    ) -> None:
        self.name = name
        self.session_client = SessionClient(app, base_url)

    @property
    def value(self) -> str | None:
        return self.session_client.cookies.get(self.name)

    async def fetch(
        self,
        path: str,
        *,
        method: str = "GET",
        body: str | None = None,
        headers: dict[str, str] | None = None,
        cookie: str | None = None,
    ) -> Response:
        headers = dict(headers or {})
        if cookie is not None and "Cookie" not in headers:
            headers["Cookie"] = f"{self.name}={cookie}"
        response = await self.session_client.fetch(path, method=method, body=body, headers=headers)
        return Response(response, self.name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "options(**kwargs): SessionOptions for the test's app")
    config.addinivalue_line("markers", "store_class(cls): the CountingStore subclass to use")


@pytest.fixture
def store(request: pytest.FixtureRequest) -> CountingStore:
    marker = request.node.get_closest_marker("store_class")
    cls = marker.args[0] if marker else CountingStore
    return cls()  # type: ignore[no-any-return]


@pytest.fixture
def options_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    """SessionOptions keyword arguments from the test's ``@pytest.mark.options(...)``."""
    marker = request.node.get_closest_marker("options")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def handlers() -> list[Any]:
    from tests.handlers import HANDLERS

    return HANDLERS


@pytest.fixture
def app(
    store: CountingStore, options_kwargs: dict[str, Any], handlers: list[Any]
) -> tornado.web.Application:
    kwargs: dict[str, Any] = {"secret": SECRET, "store": store, **options_kwargs}
    return tornado.web.Application(handlers, sessions=SessionOptions(**kwargs))


@pytest.fixture
def client(
    app: tornado.web.Application, http_server: Any, base_url: str, options_kwargs: dict[str, Any]
) -> Client:
    return Client(app, base_url, options_kwargs.get("name", "sessionid"))


async def use_options(app: tornado.web.Application, options: SessionOptions) -> None:
    """Give ``app`` new session options, as a restart with new settings would."""
    from tornado_sessions import close_sessions, open_sessions

    await close_sessions(app)
    app.settings["sessions"] = options
    await open_sessions(app)
