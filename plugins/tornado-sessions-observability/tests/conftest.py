"""Fixtures of the observability plugin's tests: a real Tornado app, metrics and spans.

``app`` (served by pytest-tornado's ``http_server``) has session handlers for
every lifecycle event and ``/metrics``, a :class:`MetricsHandler` over the test's
own ``registry``; its store is ``memory://`` unless a test overrides
``store_url`` (a Redis server that is down, for store errors).  ``metrics`` and
``tracing`` install the plugin for one test and uninstall it afterwards; spans go to
OpenTelemetry's in-memory exporter (``exporter``).  ``browser`` keeps the session
cookie from real ``Set-Cookie`` headers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from tornado_sessions_observability import (
    MetricsHandler,
    SessionMetrics,
    SessionTracing,
    install_metrics,
    install_tracing,
)

from tornado_sessions import SessionMixin, SessionOptions, close_sessions

SECRET = "observability-test-secret-0123456789"


class SetHandler(SessionMixin, tornado.web.RequestHandler):
    """``/set?k=v``: write keys (creates the session the first time)."""

    async def get(self) -> None:
        session = await self.get_session()
        for name, values in self.request.query_arguments.items():
            session[name] = values[-1].decode()
        self.write({"data": dict(session)})


class GetHandler(SessionMixin, tornado.web.RequestHandler):
    """``/get``: read only."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write({"data": dict(session)})


class TouchHandler(SessionMixin, tornado.web.RequestHandler):
    """``/touch``: extend an unmodified session's expiry."""

    async def get(self) -> None:
        session = await self.get_session()
        session.touch()
        self.write("touched")


class LogoutHandler(SessionMixin, tornado.web.RequestHandler):
    """``/logout``: destroy the session."""

    async def get(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.write("bye")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Iterator[SessionMetrics]:
    installed = install_metrics(registry)
    try:
        yield installed
    finally:
        installed.uninstall()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tracing(tracer_provider: TracerProvider) -> Iterator[SessionTracing]:
    installed = install_tracing(tracer_provider)
    try:
        yield installed
    finally:
        installed.uninstall()


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    """``memory://``; parametrize indirectly with ``"down"`` (a Redis URL on a closed port)
    or ``"hangs"`` (a Redis URL on a port that accepts and never answers)."""
    kind = getattr(request, "param", "memory")
    if kind == "memory":
        return "memory://"
    port = request.getfixturevalue({"down": "closed_port", "hangs": "silent_server"}[kind])
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def session_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra ``SessionOptions`` keywords; parametrize indirectly to change them."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def app(
    registry: CollectorRegistry,
    store_url: str,
    session_options: dict[str, Any],
    io_loop: tornado.ioloop.IOLoop,
) -> Iterator[tornado.web.Application]:
    handlers: list[Any] = [
        (r"/set", SetHandler),
        (r"/get", GetHandler),
        (r"/touch", TouchHandler),
        (r"/logout", LogoutHandler),
        (r"/metrics", MetricsHandler, {"registry": registry}),
    ]
    options = SessionOptions(secret=SECRET, store=store_url, **session_options)
    application = tornado.web.Application(handlers, sessions=options)
    yield application
    io_loop.run_sync(lambda: close_sessions(application))


class Browser:
    """Keeps the ``sessionid`` cookie from real ``Set-Cookie`` headers and sends it back."""

    def __init__(self, http_client: tornado.httpclient.AsyncHTTPClient, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.cookie: str | None = None

    async def get(self, path: str, *, cookie_header: str | None = None) -> Any:
        headers = {}
        if cookie_header is not None:
            headers["Cookie"] = cookie_header
        elif self.cookie:
            headers["Cookie"] = f"sessionid={self.cookie}"
        response = await self.http_client.fetch(
            self.base_url + path, headers=headers, raise_error=False, request_timeout=30
        )
        for header in response.headers.get_list("Set-Cookie"):
            if header.startswith("sessionid="):
                value = header.split(";", 1)[0].split("=", 1)[1]
                self.cookie = value or None
        return response


@pytest.fixture
def browser(
    app: tornado.web.Application, http_server: Any, http_client: Any, base_url: str
) -> Browser:
    return Browser(http_client, base_url)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound a moment ago, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a store that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])
