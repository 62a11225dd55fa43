"""Shared fixtures of the security and reliability suites (tests/security/).

Owns: the test application (a handful of session handlers), its store (a
MemoryStore that counts calls), the signing secret, a stateless view of the public
``SessionClient`` that reads session cookies from the real ``Set-Cookie`` headers,
and private Redis and
FerretDB servers for the suites that run against every store with delta writes.
(The slow suites read ``TORNADO_SESSIONS_FULL=1`` themselves to switch to their
full form.)

Test modules run in pytest's importlib mode and cannot import each other, so
everything shared is handed out as a fixture.
"""

from __future__ import annotations

import contextlib
import gc
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
import tornado.web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse

from tornado_sessions import MemoryStore, SessionMixin, SessionOptions, Store
from tornado_sessions.ids import store_key
from tornado_sessions.signing import Signer
from tornado_sessions.testing import SessionClient
from tornado_sessions.testing.servers import unavailable

# Hypothesis imports libcst (and through it a deprecated mypy_extensions API) only
# when it reports a failing example; under "warnings are errors" that import turns a
# readable failure into an INTERNALERROR.  Import it once here, warnings silenced.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

SECRET = "security-suite-secret-0123456789abcdef"
OLD_SECRET = "security-suite-old-secret-0123456789ab"
NAME = "sessionid"


class Peek(SessionMixin, tornado.web.RequestHandler):
    """Reads the session and reports it; changes nothing."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write(
            {
                "id": session.id,
                "new": session.is_new,
                "data": dict(session),
                "created_at": session.created_at,
                "expires_at": session.expires_at,
            }
        )


class Keys(SessionMixin, tornado.web.RequestHandler):
    """Reads the session and reports its keys only (values may not be JSON-able)."""

    async def get(self) -> None:
        session = await self.get_session()
        self.write({"id": session.id, "new": session.is_new, "keys": sorted(session)})


class Put(SessionMixin, tornado.web.RequestHandler):
    """Sets every query argument as a session key (string values)."""

    async def get(self) -> None:
        session = await self.get_session()
        for name in self.request.arguments:
            if name == "cache_control":  # a handler that marks its page cacheable
                self.set_header("Cache-Control", self.get_argument(name))
                continue
            session[name] = self.get_argument(name)
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class Login(SessionMixin, tornado.web.RequestHandler):
    """Regenerates the id, then stores the user: what the docs tell apps to do."""

    async def get(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        session["user"] = self.get_argument("user", "alice")
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class Logout(SessionMixin, tornado.web.RequestHandler):
    """Destroys the session."""

    async def get(self) -> None:
        session = await self.get_session()
        await session.destroy()
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class Health(SessionMixin, tornado.web.RequestHandler):
    """Never asks for the session."""

    def get(self) -> None:
        self.write("ok")


HANDLERS: list[Any] = [
    (r"/peek", Peek),
    (r"/keys", Keys),
    (r"/put", Put),
    (r"/login", Login),
    (r"/logout", Logout),
    (r"/health", Health),
]


class SpyStore(MemoryStore):
    """A MemoryStore that counts calls per operation (the brute-force and flood suites)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def load(self, key: str) -> Any:
        self._count("load")
        return await super().load(key)

    async def save(self, key: str, record: Any) -> None:
        self._count("save")
        await super().save(key, record)

    async def destroy(self, key: str) -> None:
        self._count("destroy")
        await super().destroy(key)

    async def touch(self, key: str, expires_at: float) -> bool:
        self._count("touch")
        return await super().touch(key, expires_at)

    async def save_changes(self, key: str, changes: Any, meta: bytes, expires_at: float) -> bool:
        self._count("save_changes")
        return await super().save_changes(key, changes, meta, expires_at)


@dataclass
class Reply:
    """One HTTP response, with the session cookie read from its Set-Cookie headers."""

    status: int
    headers: Any
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def _ours(self) -> list[str]:
        return [h for h in self.set_cookies if h.split("=", 1)[0].strip() == NAME]

    @property
    def session_cookie(self) -> str | None:
        """The value our Set-Cookie sets, ``None`` if it sets none (or clears it)."""
        ours = self._ours()
        assert len(ours) <= 1, f"more than one Set-Cookie for {NAME}: {ours}"
        if not ours:
            return None
        value = ours[0].split(";", 1)[0].split("=", 1)[1]
        return value or None

    @property
    def cookie_attributes(self) -> dict[str, str]:
        """Attributes of our Set-Cookie, lower-cased names (flags map to ``""``)."""
        ours = self._ours()
        assert len(ours) == 1, f"expected one Set-Cookie for {NAME}: {ours}"
        attributes = {}
        for part in ours[0].split(";")[1:]:
            key, _, value = part.strip().partition("=")
            attributes[key.lower()] = value
        return attributes

    @property
    def clears_cookie(self) -> bool:
        ours = self._ours()
        return bool(ours) and ours[0].split(";", 1)[0].split("=", 1)[1] == ""


class Client:
    """Stateless requests over the public :class:`SessionClient`: each call names its cookie.

    The jar is emptied before every request, so a request carries exactly the
    cookie (or raw ``Cookie`` header) the test gives it; the answer is a
    :class:`Reply` with the ``Set-Cookie`` headers as they came.
    """

    def __init__(
        self, app: tornado.web.Application, http_client: AsyncHTTPClient, base_url: str
    ) -> None:
        self.session_client = SessionClient(app, base_url, http_client=http_client)
        self.http_client = http_client
        self.base_url = base_url

    async def get(
        self,
        path: str,
        *,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        body: str | None = None,
        raw_cookie_header: str | None = None,
        request_timeout: float = 20.0,
    ) -> Reply:
        all_headers = dict(headers or {})
        if raw_cookie_header is not None:
            all_headers["Cookie"] = raw_cookie_header
        elif cookie is not None:
            all_headers["Cookie"] = f"{NAME}={cookie}"
        self.session_client.cookies.clear()
        try:
            response: HTTPResponse = await self.session_client.fetch(
                path,
                method=method,
                body=body,
                headers=all_headers,
                request_timeout=request_timeout,
            )
        except HTTPClientError as exc:  # no HTTP response at all (a timeout, a reset)
            raise AssertionError(f"no HTTP response for {path}: {exc!r}") from exc
        return Reply(
            response.code,
            response.headers,
            response.body or b"",
            response.headers.get_list("Set-Cookie"),
        )


@pytest.fixture(autouse=True)
def _collect_garbage_after_the_server_stopped() -> Iterator[None]:
    """Collect each test's garbage in its own teardown, after its server closed.

    A request that hangs in the core leaves a failed asyncio task in a reference
    cycle; if a later garbage collection finalizes it while pytest is building a
    failure report, CPython 3.11 raises "AST constructor recursion depth mismatch"
    and pytest stops with INTERNALERROR.  Collecting here keeps failures readable.
    ResourceWarnings are ignored during this one collection: pytest-tornado's
    ``io_loop`` leaves behind the implicit event loop Tornado creates in
    ``IOLoop._make_current`` (``asyncio.get_event_loop()``), which is not ours to close.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def store() -> MemoryStore:
    return SpyStore()


@pytest.fixture
def session_options(store: Store) -> SessionOptions:
    return SessionOptions(secret=SECRET, store=store)


@pytest.fixture
def app(session_options: SessionOptions) -> tornado.web.Application:
    return tornado.web.Application(HANDLERS, sessions=session_options)


@pytest.fixture
def client(app: tornado.web.Application, http_client: AsyncHTTPClient, base_url: str) -> Client:
    return Client(app, http_client, base_url)


@pytest.fixture
def sign() -> Callable[[str], str]:
    """Signs an id exactly as the app does (default secret and cookie name)."""
    return Signer([SECRET.encode()], NAME).sign


@pytest.fixture
def key_of() -> Callable[[str], str]:
    """The store key of an id (``hash_ids`` on, the default)."""
    return lambda session_id: store_key(session_id, True)


# -- real servers for the "every store with delta writes" suites ---------------------
#
# Started with the plugins' own test harnesses (tornado_sessions_redis.testing and
# tornado_sessions_mongo.testing), as the plugins' suites start theirs: a subprocess
# on a free loopback port, readiness polled, stopped at the end of the session.  A
# missing redis-server fails the test; a missing FerretDB or plugin skips, and fails
# under CI=true.


def _plugin_missing(plugin: str, error: ImportError) -> NoReturn:
    """The plugin (and so its harness) cannot be imported: fail under CI, else skip."""
    unavailable(f"{plugin} is not installed ({error})")


@pytest.fixture(scope="session")
def security_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private ``redis-server`` for this suite; yields a ``redis://`` URL."""
    try:
        from tornado_sessions_redis.testing import RedisServer, redis_server_binary
    except ImportError as exc:
        _plugin_missing("tornado-sessions-redis", exc)
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("security-redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def security_mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private FerretDB (MongoDB wire protocol, SQLite backend); yields its URL."""
    try:
        from tornado_sessions_mongo.testing import FerretDB, find_ferretdb
    except ImportError as exc:
        _plugin_missing("tornado-sessions-mongo", exc)
    server = FerretDB(find_ferretdb(), tmp_path_factory.mktemp("security-ferretdb"))
    try:
        server.start()
    except RuntimeError as exc:  # found but would not start: a failure, not a skip
        pytest.fail(f"FerretDB did not start: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()
