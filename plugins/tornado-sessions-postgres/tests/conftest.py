"""Real PostgreSQL servers for the plugin's tests, and an application over HTTP.

Servers come from :mod:`tornado_sessions_postgres.testing` (``initdb`` into a
temporary directory, ``postgres`` on a free loopback port, run as the ``postgres``
user when the tests run as root), stopped when their fixture ends:

- ``postgres_server``: one server for the whole test session;
- ``private_postgres``: a server for one test (the fault tests stop, freeze and
  restart it).

Tests sharing ``postgres_server`` never see each other's rows: each gets a table of
its own (``table``).

For the HTTP tests: ``app`` (what pytest-tornado's ``http_server`` serves) is a
Tornado application whose sessions live in a :class:`PostgresStore` on
``store_server`` (``postgres_server`` unless a module overrides it), with
``session_options`` (override per module, or per test with indirect
parametrization) and ``store_setting`` (``"instance"``, or ``"url"`` to go through
the plugin registry); ``browser`` keeps the session cookie from real ``Set-Cookie``
headers and sends it back.

If the PostgreSQL binaries are missing, the tests that need a server fail when
``$CI`` is set and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web
from tornado_sessions_postgres import PostgresStore
from tornado_sessions_postgres.testing import PostgresServer, postgres_bin_dir

from tornado_sessions import SessionMixin, SessionOptions, close_sessions


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(postgres_bin_dir())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(postgres_bin_dir())
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def table() -> str:
    """A table name no other test uses."""
    return f"t_{uuid.uuid4().hex[:16]}"


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
def store_server(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def session_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra ``SessionOptions`` keywords; parametrize indirectly to change them."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def store_setting(request: pytest.FixtureRequest) -> str:
    """``"instance"``: a PostgresStore in the options; ``"url"``: its URL, resolved by the
    plugin; ``"counted"``: a PostgresStore on a :class:`CountingPool` (see ``statements``)."""
    return str(getattr(request, "param", "instance"))


class CountingPool:
    """An ``asyncpg.Pool`` stand-in that records every statement the store sends.

    It wraps a real pool, created on first use (inside the test's loop), and hands
    each call on unchanged; ``take()`` returns the store operations seen since the
    previous call, each named by the store operation it belongs to.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.sent: list[str] = []
        self._pool: Any = None

    async def _real(self) -> Any:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=10)
        return self._pool

    def _record(self, sql: str) -> None:
        self.sent.append(next((name for part, name in STATEMENT_NAMES if part in sql), sql))

    async def acquire(self) -> _CountingConnection:
        return _CountingConnection(self, await (await self._real()).acquire())

    async def release(self, conn: _CountingConnection) -> None:
        await (await self._real()).release(conn.conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


class _CountingConnection:
    """A pooled connection whose statements :class:`CountingPool` records."""

    def __init__(self, pool: CountingPool, conn: Any) -> None:
        self.pool = pool
        self.conn = conn

    def terminate(self) -> None:
        self.conn.terminate()

    async def execute(self, sql: str, *args: Any) -> Any:
        self.pool._record(sql)
        return await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.pool._record(sql)
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.pool._record(sql)
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.pool._record(sql)
        return await self.conn.fetchval(sql, *args)


#: A part of each statement the store sends, and the operation it is.
STATEMENT_NAMES = [
    ("SELECT meta,", "load"),
    ("INSERT INTO", "save"),
    ("SET expires_ms = $2", "touch"),
    ("SET fields =", "save_changes"),
    ("DELETE FROM", "destroy"),
]


@pytest.fixture
def statements() -> dict[str, CountingPool]:
    """Holds the app's :class:`CountingPool` under ``"pool"`` when ``store_setting`` is
    ``"counted"``."""
    return {}


@pytest.fixture
def app(
    store_server: PostgresServer,
    table: str,
    session_options: dict[str, Any],
    store_setting: str,
    statements: dict[str, CountingPool],
    io_loop: tornado.ioloop.IOLoop,
) -> Iterator[tornado.web.Application]:
    url = f"{store_server.url}?table={table}"
    timeout = session_options.get("store_timeout", 2.0)
    store: str | PostgresStore = url
    if store_setting == "instance":
        store = PostgresStore.from_url(url, timeout=timeout)
    elif store_setting == "counted":
        pool = statements["pool"] = CountingPool(store_server.url)
        store = PostgresStore(pool, table=table)
    options = SessionOptions(secret=SECRET, store=store, **session_options)
    application = tornado.web.Application(HANDLERS, sessions=options)
    yield application
    io_loop.run_sync(lambda: close_sessions(application))
    if "pool" in statements:
        io_loop.run_sync(statements["pool"].close)


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
