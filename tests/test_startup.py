"""Configuration mistakes fail at start-up, once, in words that say what to fix.

Each row of the guide's table "Mistakes and what they say" has a test here: the
error ``open_sessions(app)`` (or ``SessionOptions(...)``) raises, and for an app that
never called ``open_sessions``, what its first request does (one ERROR line, then a
plain 500 per request, never a traceback per request).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
import tornado.web

from tornado_sessions import (
    ConfigurationError,
    SerializationError,
    SessionMixin,
    SessionOptions,
    StoreError,
    open_sessions,
    registry,
)
from tornado_sessions.serializers import MsgpackSerializer

SECRET = "s" * 32


class Page(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"new": session.is_new})


async def _open_error(**settings: Any) -> str:
    app = tornado.web.Application([(r"/", Page)], **settings)
    with pytest.raises(ConfigurationError) as raised:
        await open_sessions(app)
    return str(raised.value)


# -- open_sessions(app) ------------------------------------------------------------


@pytest.mark.gen_test
async def test_missing_secret() -> None:
    message = await _open_error(sessions=SessionOptions())
    assert "sessions need a secret" in message and "cookie_secret" in message


@pytest.mark.gen_test
async def test_misspelt_scheme_suggests_the_nearest() -> None:
    message = await _open_error(sessions=SessionOptions(secret=SECRET, store="reddis://x"))
    assert "reddis://" in message and "did you mean redis://?" in message


@pytest.mark.gen_test
async def test_scheme_of_a_plugin_not_installed_names_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry.KNOWN_PLUGINS, "couchdb", "tornado-sessions-couchdb")
    message = await _open_error(sessions=SessionOptions(secret=SECRET, store="couchdb://db"))
    assert "pip install tornado-sessions-couchdb" in message


@pytest.mark.gen_test
async def test_url_without_a_scheme() -> None:
    message = await _open_error(sessions=SessionOptions(secret=SECRET, store="localhost:6379"))
    assert "no installed store plugin serves localhost:// URLs" in message or "no scheme" in message


@pytest.mark.gen_test
async def test_misspelt_serializer_suggests_the_nearest() -> None:
    message = await _open_error(sessions=SessionOptions(secret=SECRET, serializer="msgpak"))
    assert "unknown serializer 'msgpak'" in message and "did you mean 'msgpack'?" in message


@pytest.mark.gen_test
async def test_sessions_given_as_a_dict() -> None:
    message = await _open_error(sessions={"secret": SECRET})
    assert "not a dict" in message and "SessionOptions(**{...})" in message


@pytest.mark.gen_test
async def test_misspelt_sessions_setting_is_named() -> None:
    message = await _open_error(session=SessionOptions(secret=SECRET), cookie_secret=SECRET)
    assert "no 'sessions' setting" in message and "'session'" in message


@pytest.mark.gen_test
async def test_no_sessions_setting_at_all() -> None:
    message = await _open_error(cookie_secret=SECRET)
    assert "no 'sessions' setting" in message and "sessions=SessionOptions(...)" in message


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory://?maxentries=5", "unknown memory:// option 'maxentries'"),
        ("memory://?max_entries=abc", "max_entries must be a positive whole number"),
        ("memory://?max_entries=0", "max_entries must be a positive whole number"),
        ("memory://localhost", "memory:// takes no host or path"),
    ],
)
async def test_memory_url_options_are_checked(url: str, expected: str) -> None:
    message = await _open_error(sessions=SessionOptions(secret=SECRET, store=url))
    assert expected in message
    if "maxentries" in url:
        assert "did you mean 'max_entries'?" in message


@pytest.mark.gen_test
async def test_an_unreachable_store_is_a_store_error_naming_the_cause() -> None:
    from tornado_sessions import MemoryStore

    class Down(MemoryStore):
        async def load(self, key: str) -> Any:
            raise ConnectionRefusedError("connection refused by 10.0.0.9:6379")

    app = tornado.web.Application([], sessions=SessionOptions(secret=SECRET, store=Down()))
    with pytest.raises(StoreError, match=r"not usable.*connection refused by 10\.0\.0\.9:6379"):
        await open_sessions(app)


# -- SessionOptions(...) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_age": 14 * 24 * 3600 * 1000}, "not milliseconds as in express-session"),
        ({"max_age": None}, "max_age must be a number of seconds, not None"),
        ({"max_age": "3600"}, "convert it with float()"),
        ({"max_age": math.inf}, "max_age must be a finite number of seconds"),
        ({"max_age": 1e300}, "max_age is at most"),
        ({"max_age": 0}, "max_age must be positive seconds"),
        ({"absolute_timeout": -1}, "absolute_timeout must be positive seconds"),
        ({"touch_after": -1}, "touch_after must be zero or more seconds"),
        ({"store_timeout": math.inf}, "store_timeout must be a finite number of seconds"),
        ({"store_timeout": 2000}, "store_timeout is at most 300 seconds"),
        ({"max_record_bytes": 1.5}, "max_record_bytes must be a whole number of bytes"),
        ({"rolling": "yes"}, "rolling must be True or False, not 'yes'"),
        ({"cookie_samesite": True}, "express-session's sameSite=true is 'Strict'"),
        ({"name": "__HOST-id"}, "requires cookie_secure=True"),
        (
            {"name": "__host-id", "cookie_secure": True, "cookie_domain": "x.test"},
            "no cookie_domain",
        ),
        ({"name": "__SECURE-id"}, "a '__Secure-' cookie (__SECURE-id) requires cookie_secure=True"),
        ({"store": 42}, "store must be a Store instance or a URL string"),
    ],
)
def test_options_are_checked_at_construction(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SessionOptions(secret=SECRET, **kwargs)
    assert expected in str(raised.value)


def test_the_store_password_never_shows_in_repr() -> None:
    options = SessionOptions(secret=SECRET, store="redis://user:hunter2@db.internal:6379/0")
    assert "hunter2" not in repr(options) and SECRET not in repr(options)
    assert "redis://user:***@db.internal:6379/0" in repr(options)
    app = tornado.web.Application([], sessions=options)
    assert "hunter2" not in str(app.settings)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://db:6379/0?password=hunter2", "redis://db:6379/0?password=***"),
        ("mongodb://h/?authSource=admin&Password=hunter2", "mongodb://h/?authSource=admin&Password=***"),
        ("redis://:hunter2@db:6379?token=hunter2&db=1", "redis://:***@db:6379?token=***&db=1"),
    ],
)
def test_a_password_in_the_query_never_shows_in_repr(url: str, shown: str) -> None:
    options = SessionOptions(secret=SECRET, store=url)
    assert "hunter2" not in repr(options)
    assert shown in repr(options)


def test_an_integer_outside_64_bits_says_so() -> None:
    with pytest.raises(SerializationError, match="outside msgpack's 64-bit range"):
        MsgpackSerializer().dumps({"big": [2**80]})


# -- an app that never called open_sessions --------------------------------------------


@pytest.fixture
def app() -> tornado.web.Application:
    return tornado.web.Application(
        [(r"/", Page)], sessions=SessionOptions(secret=SECRET, serializer="msgpak")
    )


@pytest.mark.gen_test
async def test_first_request_logs_the_mistake_once_and_answers_500(
    http_client: Any, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        response = await http_client.fetch(base_url + "/", raise_error=False)
        assert response.code == 500
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name != "tornado.access"
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "did you mean 'msgpack'?" in errors[0].getMessage()
    assert errors[0].exc_info is None  # a message, not a traceback
