"""Session values encrypted at rest (``encryption_keys``), on every store of this repository.

Owns the "stolen store dumps" and "tampered store data" evidence for encryption in
SECURITY.md.  Each test serves real applications over HTTP (several when keys
rotate: each with its own ``encryption_keys``, all on one store) and reads or
plants raw records through the store's own API, the bytes the backend holds.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import tornado.httpserver
import tornado.web
from tornado.httpclient import AsyncHTTPClient

from tornado_sessions import (
    ConfigurationError,
    Record,
    SessionMixin,
    SessionOptions,
    Store,
    close_sessions,
    create_store,
    open_sessions,
    reencrypt_store,
)
from tornado_sessions.ids import store_key

from .conftest import Client

SECRET = "security-suite-secret-0123456789abcdef"
SECRET_VALUE = "4111-1111-1111-1111 exp 12/29"
K1, K2, K3 = (base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() for _ in range(3))


class _Put(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        for name in self.request.arguments:
            session[name] = self.get_argument(name)
        self.write({"id": session.id})


class _Peek(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        self.write({"id": session.id, "new": session.is_new, "data": dict(session)})


class _Items(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        items = session.setdefault("items", [])
        if self.get_argument("add", None):
            items.append(self.get_argument("add"))
        self.write({"items": items})


class _Login(SessionMixin, tornado.web.RequestHandler):
    async def get(self) -> None:
        session = await self.get_session()
        await session.regenerate()
        session["user"] = "alice"
        self.write({"id": session.id})


HANDLERS = [(r"/put", _Put), (r"/peek", _Peek), (r"/items", _Items), (r"/login", _Login)]


@pytest.fixture(params=["memory", "redis", "mongo"])
def store_url(request: pytest.FixtureRequest) -> str:
    unique = uuid.uuid4().hex[:12]
    if request.param == "redis":
        return request.getfixturevalue("security_redis_url") + f"?prefix=enc{unique}:"
    if request.param == "mongo":
        return request.getfixturevalue("security_mongo_url") + f"security?collection=e{unique}"
    return "memory://"


@pytest.fixture
def store(store_url: str, io_loop: Any) -> Iterator[Store]:
    built = create_store(store_url)
    io_loop.run_sync(built.open)
    yield built
    io_loop.run_sync(built.close)


Serve = Callable[..., Awaitable[Client]]


@pytest.fixture
def serve(store: Store, io_loop: Any) -> Iterator[Serve]:
    """Start an application on ``store`` with the given keys; returns its client."""
    running: list[tuple[tornado.httpserver.HTTPServer, tornado.web.Application]] = []

    async def start(*keys: str, **options: Any) -> Client:
        app = tornado.web.Application(
            HANDLERS,
            sessions=SessionOptions(
                secret=SECRET, store=store, encryption_keys=list(keys), **options
            ),
        )
        await open_sessions(app)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.setblocking(False)
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([listener])
        running.append((server, app))
        port = listener.getsockname()[1]
        return Client(app, AsyncHTTPClient(), f"http://127.0.0.1:{port}")

    yield start
    for server, app in running:
        server.stop()
        io_loop.run_sync(lambda app=app: close_sessions(app))


async def _raw(store: Store, session_id: str) -> Record:
    record = await store.load(store_key(session_id, True))
    assert record is not None
    return record


async def _start(client: Client, **values: str) -> tuple[str, str]:
    reply = await client.get(f"/put?{urlencode(values)}")
    assert reply.status == 200 and reply.session_cookie
    return reply.session_cookie, reply.json["id"]


@pytest.mark.gen_test(timeout=30)
async def test_a_store_dump_holds_none_of_the_values(serve: Serve, store: Store) -> None:
    client = await serve(K1)
    _, session_id = await _start(client, card=SECRET_VALUE, user="alice-the-admin")
    record = await _raw(store, session_id)
    dumped = b"".join(record.fields.values()) + record.meta
    assert set(record.fields) == {"card", "user"}  # names stay visible (documented)
    for plaintext in (SECRET_VALUE.encode(), b"alice-the-admin", b"4111"):
        assert plaintext not in dumped
    assert session_id.encode() not in dumped


@pytest.mark.gen_test(timeout=30)
async def test_values_read_back_and_regenerate_keeps_them_readable(
    serve: Serve, store: Store
) -> None:
    client = await serve(K1)
    cookie, _ = await _start(client, card=SECRET_VALUE)
    reply = await client.get("/login", cookie=cookie)
    new_cookie = reply.session_cookie
    assert reply.status == 200 and new_cookie and new_cookie != cookie
    reply = await client.get("/peek", cookie=new_cookie)
    assert reply.json["data"] == {"card": SECRET_VALUE, "user": "alice"}


@pytest.mark.gen_test(timeout=30)
async def test_a_value_moved_to_another_session_is_refused(
    serve: Serve, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    client = await serve(K1)
    _, attacker_id = await _start(client, role="admin")
    victim_cookie, victim_id = await _start(client, role="guest", name="victim")
    attacker, victim = await _raw(store, attacker_id), await _raw(store, victim_id)
    planted = dict(victim.fields, role=attacker.fields["role"])
    await store.save(store_key(victim_id, True), Record(planted, victim.meta, victim.expires_at))
    reply = await client.get("/peek", cookie=victim_cookie)
    assert reply.status == 200 and not reply.json["new"]
    assert reply.json["data"] == {"name": "victim"}  # the moved value reads as absent
    assert any("role" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.gen_test(timeout=30)
async def test_a_value_moved_to_another_field_is_refused(serve: Serve, store: Store) -> None:
    client = await serve(K1)
    cookie, session_id = await _start(client, role="guest", note="admin")
    record = await _raw(store, session_id)
    swapped = dict(record.fields, role=record.fields["note"])
    await store.save(store_key(session_id, True), Record(swapped, record.meta, record.expires_at))
    reply = await client.get("/peek", cookie=cookie)
    assert reply.status == 200 and reply.json["data"] == {"note": "admin"}


@pytest.mark.gen_test(timeout=30)
async def test_a_flipped_bit_is_refused(serve: Serve, store: Store) -> None:
    client = await serve(K1)
    cookie, session_id = await _start(client, role="guest", name="bob")
    record = await _raw(store, session_id)
    for position in (0, 1, 6, len(record.fields["role"]) - 1):
        flipped = bytearray(record.fields["role"])
        flipped[position] ^= 0x01
        fields = dict(record.fields, role=bytes(flipped))
        tampered = Record(fields, record.meta, record.expires_at)
        await store.save(store_key(session_id, True), tampered)
        reply = await client.get("/peek", cookie=cookie)
        assert reply.status == 200 and reply.json["data"] == {"name": "bob"}, position


@pytest.mark.gen_test(timeout=30)
async def test_a_cleartext_value_planted_in_an_encrypted_store_is_refused(
    serve: Serve, store: Store
) -> None:
    client = await serve(K1)
    cookie, session_id = await _start(client, name="bob")
    record = await _raw(store, session_id)
    planted = dict(record.fields, role=b"\xa5admin")  # msgpack "admin", in the clear
    await store.save(store_key(session_id, True), Record(planted, record.meta, record.expires_at))
    reply = await client.get("/peek", cookie=cookie)
    assert reply.json["data"] == {"name": "bob"}


@pytest.mark.gen_test(timeout=60)
async def test_rotation_across_three_keys(serve: Serve, store: Store) -> None:
    first = await serve(K1)
    cookie, session_id = await _start(first, a="one")
    second = await serve(K2, K1)  # K2 seals now, K1 still opens
    reply = await second.get("/put?b=two", cookie=cookie)
    assert reply.status == 200
    third = await serve(K3, K2, K1)
    reply = await third.get("/put?c=three", cookie=cookie)
    assert (await third.get("/peek", cookie=cookie)).json["data"] == {
        "a": "one",
        "b": "two",
        "c": "three",
    }
    record = await _raw(store, session_id)
    sealed_by = {name: data[1:5] for name, data in record.fields.items()}
    assert len(set(sealed_by.values())) == 3  # each value still under the key that wrote it
    # A value is re-sealed with the first key when it is next written:
    await third.get("/put?a=uno", cookie=cookie)
    record = await _raw(store, session_id)
    assert record.fields["a"][1:5] == record.fields["c"][1:5]
    # ...and reencrypt_store re-seals the rest, after which older keys can go.
    report = await reencrypt_store(store, [K3, K2, K1])
    assert report.resealed >= 1 and report.unreadable == 0
    only_newest = await serve(K3)
    reply = await only_newest.get("/peek", cookie=cookie)
    assert reply.json["data"] == {"a": "uno", "b": "two", "c": "three"}


@pytest.mark.gen_test(timeout=30)
async def test_a_removed_key_makes_its_values_absent_not_an_error_page(
    serve: Serve, store: Store
) -> None:
    old = await serve(K1)
    cookie, _ = await _start(old, card=SECRET_VALUE)
    new = await serve(K2)  # K1 dropped too early
    reply = await new.get("/peek", cookie=cookie)
    assert reply.status == 200 and not reply.json["new"] and reply.json["data"] == {}
    reply = await new.get("/put?card=again", cookie=cookie)
    assert reply.status == 200
    assert (await new.get("/peek", cookie=cookie)).json["data"] == {"card": "again"}


@pytest.mark.gen_test(timeout=30)
async def test_a_process_without_the_new_key_leaves_its_values_alone(
    serve: Serve, store: Store
) -> None:
    # A rolling deploy of a rotation: one process already seals with K2, one has only K1.
    old = await serve(K1)
    new = await serve(K2, K1)
    cookie, _ = await _start(old, user="alice")
    assert (await new.get("/put?cart=4items", cookie=cookie)).status == 200
    reply = await old.get("/put?seen=yes", cookie=cookie)  # reads, and writes another key
    assert reply.status == 200
    assert (await old.get("/peek", cookie=cookie)).json["data"] == {"user": "alice", "seen": "yes"}
    reply = await new.get("/peek", cookie=cookie)
    assert reply.json["data"] == {"user": "alice", "cart": "4items", "seen": "yes"}


@pytest.mark.gen_test(timeout=30)
async def test_reading_a_list_writes_nothing_and_a_change_writes_it(
    serve: Serve, store: Store
) -> None:
    # Sealing is deterministic, so "changed in place?" is still a byte comparison.
    client = await serve(K1)
    cookie, session_id = await _start(client, user="bob")
    await client.get("/items?add=x", cookie=cookie)
    before = await _raw(store, session_id)
    reply = await client.get("/items", cookie=cookie)
    assert reply.json == {"items": ["x"]}
    assert (await _raw(store, session_id)).fields == before.fields
    await client.get("/items?add=y", cookie=cookie)
    assert (await client.get("/items", cookie=cookie)).json == {"items": ["x", "y"]}


@pytest.mark.gen_test(timeout=30)
async def test_turning_encryption_on_migrates_cleartext_with_reencrypt(
    serve: Serve, store: Store
) -> None:
    plain = await serve()
    cookie, session_id = await _start(plain, user="bob")
    assert b"bob" in b"".join((await _raw(store, session_id)).fields.values())
    report = await reencrypt_store(store, [K1], seal_cleartext=True)
    assert report.sealed_cleartext >= 1
    assert b"bob" not in b"".join((await _raw(store, session_id)).fields.values())
    encrypted = await serve(K1)
    assert (await encrypted.get("/peek", cookie=cookie)).json["data"] == {"user": "bob"}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["short"], "not base64 or hex text of 32 bytes"),
        ([b"\x01" * 16], "must be 256 bits (32 bytes), not 16 bytes"),
        ([b"\x00" * 32], "is not random"),
        ([K1, K1], "encryption_keys[1] repeats an earlier key"),
        ([42], "must be 32 bytes or their base64/hex text, not int"),
        (K1.encode()[:10], "encryption_keys[0]"),
    ],
)
def test_keys_are_checked_at_construction(keys: Any, expected: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SessionOptions(secret=SECRET, encryption_keys=keys)
    assert expected in str(raised.value)


def test_a_signing_secret_is_never_an_encryption_key() -> None:
    with pytest.raises(ConfigurationError, match="also a signing secret"):
        SessionOptions(secret=K1, encryption_keys=[K2, K1])


def test_keys_never_show_in_repr() -> None:
    options = SessionOptions(secret=SECRET, encryption_keys=[K1])
    assert K1 not in repr(options)
    assert json.dumps(K1) not in repr(options)
