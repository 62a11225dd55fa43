"""Fixtures for the MongoDB store tests: a real MongoDB-protocol server over TCP, and stores on it.

The server is FerretDB (``ferretdb`` on ``PATH``, ``$TORNADO_SESSIONS_FERRETDB``, or
``$(go env GOPATH)/bin/ferretdb``; build it with ``scripts/install-ferretdb.sh``),
started on a free port with a temporary SQLite data directory and stopped at the
end.  Readiness is awaited by pinging it, never by sleeping.  Setting
``TORNADO_SESSIONS_MONGO_URL`` (say ``mongodb://127.0.0.1:27017``) runs the same
tests against that server instead; each run uses a database of its own and drops it.

The fault tests stop and restart a server, so they always use a private FerretDB.

If no server can be had, the tests fail when the environment variable ``CI`` is
set, and are skipped with the reason otherwise: they never pass without a server.
The harness that finds, starts and stops FerretDB lives in
:mod:`tornado_sessions_mongo.testing`, which other suites use too.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.web
from pymongo.errors import PyMongoError
from tornado_sessions_mongo import MongoStore
from tornado_sessions_mongo.testing import ENV_URL, FerretDB, free_port, start_ferretdb

from tornado_sessions import SessionMixin, SessionOptions, close_sessions
from tornado_sessions.testing import SessionClient

#: The two clients every store test runs with.
CLIENTS = ("pymongo", "motor")


class MongoServer:
    """The server the tests use, and a database of this test run on it."""

    def __init__(self, url: str, kind: str, database: str) -> None:
        self.url = url
        self.kind = kind
        self.database = database

    def client_url(self) -> str:
        """The server URL with this run's database as its path (its options kept)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{self.database}"))

    def store_url(self, collection: str, **options: str) -> str:
        """A store URL for ``collection`` in this run's database."""
        parts = urlsplit(self.client_url())
        query = "&".join(
            [parts.query] * bool(parts.query)
            + [f"collection={collection}"]
            + [f"{name}={value}" for name, value in options.items()]
        )
        return urlunsplit(parts._replace(query=query))


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """A running server: ``$TORNADO_SESSIONS_MONGO_URL`` if set, else a FerretDB of our own."""
    database = f"tsm_test_{uuid.uuid4().hex[:10]}"
    external = os.environ.get(ENV_URL)
    if external:
        try:
            with pymongo.MongoClient(external, serverSelectionTimeoutMS=10_000) as client:
                client.admin.command("ping")
        except PyMongoError as exc:
            pytest.fail(f"{ENV_URL}={external!r} does not answer: {exc}", pytrace=False)
        yield MongoServer(external, "external", database)
        with pymongo.MongoClient(external, serverSelectionTimeoutMS=10_000) as client:
            client.drop_database(database)
        return
    server = start_ferretdb(tmp_path_factory.mktemp("ferretdb"))
    try:
        yield MongoServer(server.url, "ferretdb", database)
    finally:
        server.stop()


@pytest.fixture
def ferretdb(tmp_path: Path) -> Iterator[FerretDB]:
    """A private FerretDB for one test, which the test may stop and restart."""
    server = start_ferretdb(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def collection_name() -> str:
    """A fresh collection name: tests never see each other's documents or indexes."""
    return f"sessions_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def raw(mongo_server: MongoServer, collection_name: str) -> Iterator[Any]:
    """The test's collection through the synchronous driver, to look behind the store's back."""
    with pymongo.MongoClient(mongo_server.client_url(), serverSelectionTimeoutMS=10_000) as client:
        yield client[mongo_server.database][collection_name]


@pytest.fixture(params=CLIENTS)
def client_kind(request: pytest.FixtureRequest) -> str:
    """``"pymongo"`` (the store makes an AsyncMongoClient from a URL) or ``"motor"``."""
    kind: str = request.param
    return kind


class ClientClosingStore(MongoStore):
    """A store handed a client the test made; closing the store closes that client too."""

    def __init__(self, target: Any, *, test_client: Any, **kwargs: Any) -> None:
        super().__init__(target, **kwargs)
        self.test_client = test_client

    async def close(self) -> None:
        await super().close()
        client, self.test_client = self.test_client, None
        if client is not None:
            result = client.close()  # a coroutine for PyMongo, a plain call for Motor
            if result is not None:
                await result


StoreMaker = Callable[..., MongoStore]
StoreOpener = Callable[..., AbstractAsyncContextManager[MongoStore]]


def store_maker(server_url: str, database: str, collection: str) -> StoreMaker:
    """``maker(kind, **store_kwargs)``: a new store on ``collection``; close it when done.

    ``"pymongo"`` builds the store from a URL (the store owns its AsyncMongoClient);
    ``"pymongo-client"`` and ``"motor"`` hand it a collection of a client made here,
    which closing the store closes as well.
    """

    def maker(kind: str = "pymongo", **kwargs: Any) -> MongoStore:
        if kind == "pymongo":
            parts = urlsplit(server_url)
            query = "&".join([parts.query] * bool(parts.query) + [f"collection={collection}"])
            url = urlunsplit(parts._replace(path=f"/{database}", query=query))
            return MongoStore(url, **kwargs)
        client: Any
        if kind == "pymongo-client":
            client = pymongo.AsyncMongoClient(server_url)
        elif kind == "motor":
            from motor.motor_asyncio import AsyncIOMotorClient

            client = AsyncIOMotorClient(server_url)
        else:
            raise AssertionError(f"unknown client kind {kind!r}")
        return ClientClosingStore(client[database][collection], test_client=client, **kwargs)

    return maker


def store_opener(maker: StoreMaker) -> StoreOpener:
    """``async with opener(kind, **store_kwargs) as store``: :func:`store_maker`, closed after."""

    @asynccontextmanager
    async def opener(kind: str = "pymongo", **kwargs: Any) -> AsyncIterator[MongoStore]:
        store = maker(kind, **kwargs)
        try:
            yield store
        finally:
            await store.close()

    return opener


@pytest.fixture
def make_store(mongo_server: MongoServer, collection_name: str) -> StoreMaker:
    """New stores on the test's collection of the shared server."""
    return store_maker(mongo_server.url, mongo_server.database, collection_name)


@pytest.fixture
def open_store(make_store: StoreMaker) -> StoreOpener:
    """Stores on the test's collection of the shared server, closed at the block's end."""
    return store_opener(make_store)


@pytest.fixture
def dead_url() -> str:
    """A server URL where nothing listens (a port that was free a moment ago)."""
    return f"mongodb://127.0.0.1:{free_port()}/"


@pytest.fixture
def store_maker_for(collection_name: str) -> Callable[[str], StoreOpener]:
    """``store_maker_for(server_url)(kind, **kwargs)``: open a store on another server."""

    def for_server(server_url: str) -> StoreOpener:
        return store_opener(store_maker(server_url, "app", collection_name))

    return for_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """PyMongo 4.20's asyncio pool leaves a socket unclosed when a connection attempt is
    cancelled (a store call hitting its timeout, a client closed while its monitor
    connects); it is closed when collected, which pytest reports as an unraisable
    ResourceWarning in whichever test runs then.  That warning is the driver's: ignore
    it in this plugin's tests only."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
            )


# -- HTTP: a small application over a real socket ------------------------------------

SECRET = "x" * 32


class _Handler(SessionMixin, tornado.web.RequestHandler):
    def dump(self, session: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"data": dict(session), "new": session.is_new}))


class GetHandler(_Handler):
    async def get(self) -> None:
        self.dump(await self.get_session())


class SetHandler(_Handler):
    """``/set?k=v&...`` sets each query argument as a session key."""

    async def get(self) -> None:
        session = await self.get_session()
        for key, values in self.request.query_arguments.items():
            session[key] = values[-1].decode()
        self.dump(session)


class DestroyHandler(_Handler):
    async def get(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.dump(session)


class HealthHandler(SessionMixin, tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


HANDLERS: list[Any] = [
    (r"/get", GetHandler),
    (r"/set", SetHandler),
    (r"/destroy", DestroyHandler),
    (r"/health", HealthHandler),
]


@pytest.fixture
def session_options() -> dict[str, Any]:
    """Extra SessionOptions for the test's application; override in a test module."""
    return {}


@pytest.fixture
def store_server(mongo_server: MongoServer) -> tuple[str, str]:
    """``(server URL, database)`` the application's store uses; the fault tests override it."""
    return mongo_server.url, mongo_server.database


@pytest.fixture
def app(
    store_server: tuple[str, str],
    collection_name: str,
    client_kind: str,
    session_options: dict[str, Any],
    io_loop: tornado.ioloop.IOLoop,
) -> Iterator[tornado.web.Application]:
    """The application under test: ``pymongo`` gives SessionOptions a ``mongodb://`` URL
    (resolved by the plugin through the entry point), ``motor`` a MongoStore on a Motor
    collection.
    """
    server_url, database = store_server
    timeout = session_options.get("store_timeout", 2.0)
    store: str | MongoStore
    if client_kind == "pymongo":
        parts = urlsplit(server_url)
        query = "&".join([parts.query] * bool(parts.query) + [f"collection={collection_name}"])
        store = urlunsplit(parts._replace(path=f"/{database}", query=query))
    else:
        store = store_maker(server_url, database, collection_name)("motor", timeout=timeout)
    options = SessionOptions(secret=SECRET, store=store, **session_options)
    application = tornado.web.Application(HANDLERS, sessions=options)
    yield application
    io_loop.run_sync(lambda: close_sessions(application))


@pytest.fixture
def app_collection(store_server: tuple[str, str], collection_name: str) -> Iterator[Any]:
    """The application's collection through the synchronous driver."""
    server_url, database = store_server
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=10_000) as client:
        yield client[database][collection_name]


class Reply:
    """A response as the test sees it: status, JSON body, ``Set-Cookie`` headers, time taken."""

    def __init__(self, response: tornado.httpclient.HTTPResponse, elapsed: float) -> None:
        self.code = response.code
        self.body = response.body or b""
        self.set_cookies = [
            header
            for header in response.headers.get_list("Set-Cookie")
            if header.startswith("sessionid=")
        ]
        self.elapsed = elapsed

    def json(self) -> Any:
        return json.loads(self.body)


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

    async def get(self, path: str, *, cookie: str | None = None, keep: bool = True) -> Reply:
        """GET ``path`` with the session cookie (or ``cookie``; ``""`` for none).

        With ``keep``, a session cookie the response sets (or clears) is kept;
        otherwise the browser's cookie is as before the request.
        """
        before = self.cookie
        if cookie is not None:
            self.cookie = cookie or None
        started = time.monotonic()
        response = await self.client.fetch(path, request_timeout=30)
        reply = Reply(response, time.monotonic() - started)
        if not keep or (cookie is not None and not reply.set_cookies):
            self.cookie = before
        return reply


@pytest.fixture
def browser(
    app: tornado.web.Application, http_server: Any, http_client: Any, base_url: str
) -> Browser:
    # ``app`` first: without a server the test is skipped (or fails) before
    # pytest-tornado binds a port.
    return Browser(app, http_client, base_url)
