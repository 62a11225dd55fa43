"""Real Redis servers for the plugin's tests, and a MONITOR-based command counter.

Servers are ``redis-server`` subprocesses on free loopback ports, each with its
own temporary directory and persistence off (``--save '' --appendonly no``),
stopped when their fixture ends.  Readiness is polled (PING; ``CLUSTER INFO``
for the cluster), never waited for with a fixed sleep.  The harness that does
this lives in :mod:`tornado_sessions_redis.testing`, which other suites use too.

- ``redis_server``: one standalone server for the whole session;
- ``private_redis``: a standalone server for one test (the fault tests stop,
  pause and restart it);
- ``redis_cluster``: three masters with a replica each on loopback, slots split
  evenly, for the session (tests that kill nodes start their own, see
  ``test_redis_scale_out.py``).

For the HTTP tests: ``app`` (what pytest-tornado's ``http_server`` serves) is a
Tornado application whose sessions live in a :class:`RedisStore` on
``store_server`` (``redis_server`` unless a module overrides it), with
``session_options`` (override per module, or per test with indirect
parametrization) and ``store_setting`` (``"instance"``, or ``"url"`` to go
through the plugin registry); ``browser`` (the public ``SessionClient``) keeps the
session cookie from real ``Set-Cookie`` headers and sends it back.

The binary is ``redis-server`` from ``PATH`` (or ``$REDIS_SERVER``).  If it is
missing, the tests that need a server fail when ``$CI`` is set and are skipped,
with the reason, elsewhere.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.testing import (
    ClusterServers,
    RedisServer,
    redis_server_binary,
    start_cluster,
)

from tornado_sessions import SessionMixin, SessionOptions, close_sessions
from tornado_sessions.testing import SessionClient


@pytest.fixture(autouse=True)
def _collect_garbage_in_each_tests_own_teardown() -> Iterator[None]:
    """Collect each test's garbage in its own teardown, ignoring ResourceWarnings.

    pytest-tornado's ``io_loop`` leaves behind the implicit event loop Tornado makes
    (and clients bound to it, with their sockets), which is not ours to close; left
    to a later collection, its ResourceWarnings land in whichever test runs then and
    fail it under ``-W error``.  A leak of the store's own shows in its own tests,
    which close every store they open.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="session")
def redis_binary() -> str:
    return redis_server_binary()


@pytest.fixture(scope="session")
def redis_server(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, tmp_path_factory.mktemp("redis-standalone"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterServers]:
    cluster = start_cluster(redis_binary, tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def key_prefix() -> str:
    """A prefix no other test uses, so tests sharing a server never see each other's keys."""
    return f"test:{uuid.uuid4().hex[:12]}:"


# -- counting what the server receives ------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command as MONITOR reported it."""

    name: str
    source: str  # "127.0.0.1:port", "unix:...", or "lua" for commands run by a script
    line: str


class CommandLog:
    """Every command one or more servers receive, read from MONITOR.

    ``await log.take()`` returns the commands received since the previous call,
    from clients (commands run inside a Lua script come back in ``take(scripts=True)``).
    It does not wait on a clock: it sends a marker ``ECHO`` to each server and
    reads MONITOR up to that marker, and a server reports commands in order.
    """

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses
        self._monitors: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._markers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def start(self) -> None:
        for host, port in self.addresses:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
            writer.write(b"MONITOR\r\n")
            await writer.drain()
            assert await reader.readline() == b"+OK\r\n"
            self._monitors.append((reader, writer))
            self._markers.append(await asyncio.open_connection(host, port))
        await self.take()

    async def stop(self) -> None:
        for _, writer in self._monitors + self._markers:
            writer.close()
            await writer.wait_closed()

    async def take(self, *, scripts: bool = False) -> list[Command]:
        found: list[Command] = []
        for (reader, _), (marker_reader, marker_writer) in zip(
            self._monitors, self._markers, strict=True
        ):
            token = f"marker-{uuid.uuid4().hex}"
            marker_writer.write(f"ECHO {token}\r\n".encode())
            await marker_writer.drain()
            await marker_reader.readline()  # "$n"
            await marker_reader.readline()  # the token
            while True:
                line = (await reader.readline()).decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    raise ConnectionError("MONITOR connection closed")
                if token in line:
                    break
                command = _parse_monitor_line(line)
                if command.source == "lua" and not scripts:
                    continue
                found.append(command)
        return found


def _parse_monitor_line(line: str) -> Command:
    # +1700000000.123456 [0 127.0.0.1:50000] "EVALSHA" "5f1e..." "1" ...
    start, end = line.index("["), line.index("]")
    source = line[start + 1 : end].split(" ", 1)[1]
    rest = line[end + 1 :].strip()
    name = rest.split('"', 2)[1]
    return Command(name.upper(), source, line)


@pytest.fixture
def command_log() -> Callable[[list[tuple[str, int]]], AbstractAsyncContextManager[CommandLog]]:
    """``async with command_log([(host, port), ...]) as log:`` a started :class:`CommandLog`."""

    @asynccontextmanager
    async def open_log(addresses: list[tuple[str, int]]) -> AsyncIterator[CommandLog]:
        log = CommandLog(addresses)
        await log.start()
        try:
            yield log
        finally:
            await log.stop()

    return open_log


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
def store_server(redis_server: RedisServer) -> RedisServer:
    return redis_server


@pytest.fixture
def session_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra ``SessionOptions`` keywords; parametrize indirectly to change them."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def store_setting(request: pytest.FixtureRequest) -> str:
    """``"instance"``: a RedisStore in the options; ``"url"``: its URL, resolved by the plugin."""
    return str(getattr(request, "param", "instance"))


@pytest.fixture
def app(
    store_server: RedisServer,
    key_prefix: str,
    session_options: dict[str, Any],
    store_setting: str,
    io_loop: tornado.ioloop.IOLoop,
) -> Iterator[tornado.web.Application]:
    url = f"{store_server.url}?prefix={key_prefix}"
    timeout = session_options.get("store_timeout", 2.0)
    store = url if store_setting == "url" else RedisStore.from_url(url, timeout=timeout)
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
    """The public ``SessionClient`` seen through :class:`Reply`; ``cookie``: its session cookie."""

    def __init__(
        self,
        app: tornado.web.Application,
        http_client: tornado.httpclient.AsyncHTTPClient,
        base_url: str,
    ) -> None:
        self.client = SessionClient(app, base_url, http_client=http_client)

    @property
    def cookie(self) -> str | None:
        return self.client.session_cookie

    @cookie.setter
    def cookie(self, value: str | None) -> None:
        if value is None:
            self.client.cookies.pop("sessionid", None)
        else:
            self.client.cookies["sessionid"] = value

    async def get(self, path: str, *, timeout: float = 10.0) -> Reply:
        started = time.monotonic()
        response = await self.client.fetch(path, request_timeout=timeout)
        elapsed = time.monotonic() - started
        cookies = [
            header
            for header in response.headers.get_list("Set-Cookie")
            if header.startswith("sessionid=")
        ]
        return Reply(response.code, response.body or b"", cookies, elapsed)


@pytest.fixture
def browser(
    app: tornado.web.Application, http_server: Any, http_client: Any, base_url: str
) -> Browser:
    # ``app`` first: if the servers are missing, the test is skipped before
    # pytest-tornado binds a port it would then never close.
    return Browser(app, http_client, base_url)
