"""The store's own client, :class:`MultiplexedClient`, against real ``redis-server`` processes.

Pipelining under concurrency (every caller gets its own reply, on one
connection), cancellation of callers whose commands are on the wire (their
replies are read and dropped, FIFO), a server killed with commands in flight
then restarted (they fail as ``ConnectionError``, the next call reconnects),
AUTH (password, ACL user, a wrong password), ``SELECT``, error replies mapped to
redis-py's exceptions, a Unix socket, and TLS (a server with a TLS port and a
certificate made for the test).  Commands "in flight" are made so by freezing
the server (SIGSTOP), never by waiting on a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.exceptions
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.multiplexed import ConnectionSettings, MultiplexedClient
from tornado_sessions_redis.store import RedisStoreError, RedisUnavailableError
from tornado_sessions_redis.testing import RedisServer, free_port

from tornado_sessions import Record


def rec(value: bytes = b"1") -> Record:
    return Record({"a": value}, b"m", time.time() + 600)


def client_for(server: RedisServer, **settings: object) -> MultiplexedClient:
    return MultiplexedClient(
        ConnectionSettings(host=server.host, port=server.port, **settings)  # type: ignore[arg-type]
    )


async def connections_named(client: MultiplexedClient, name: str) -> int:
    listing = await client.execute_command("CLIENT", "LIST")
    return sum(f" name={name} ".encode() in line + b" " for line in listing.splitlines())


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_commands_share_one_connection_and_each_gets_its_own_reply(
    redis_server, key_prefix
):
    client = client_for(redis_server, client_name="pipelined")
    try:
        keys = [f"{key_prefix}{i}" for i in range(300)]
        assert await asyncio.gather(
            *(client.execute_command("SET", key, f"value-{i}") for i, key in enumerate(keys))
        ) == [b"OK"] * len(keys)
        replies = await asyncio.gather(*(client.execute_command("GET", key) for key in keys))
        assert replies == [f"value-{i}".encode() for i in range(len(keys))]
        assert await connections_named(client, "pipelined") == 1
        assert await client.unlink(*keys) == len(keys)
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_store_calls_with_cancellations_each_get_their_own_session(
    redis_server, key_prefix
):
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=5.0)
    try:
        sessions = 60
        await asyncio.gather(*(store.save(f"s{i}", rec(b"%d" % i)) for i in range(sessions)))
        for turns in range(4):  # cut after 0..3 loop turns: before, at and after sending
            tasks = [asyncio.ensure_future(store.load(f"s{i}")) for i in range(sessions)]
            for _ in range(turns):
                await asyncio.sleep(0)
            for task in tasks[::3]:
                task.cancel()
            for i, task in enumerate(tasks):
                try:
                    loaded = await task
                except asyncio.CancelledError:
                    assert i % 3 == 0
                    continue
                assert loaded is not None and loaded.fields == {"a": b"%d" % i}
        assert len(await asyncio.gather(*(store.destroy(f"s{i}") for i in range(sessions)))) == 60
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_replies_are_raw_resp2_as_redis_py_gives_without_decoding(redis_server, key_prefix):
    client = client_for(redis_server)
    try:
        key = f"{key_prefix}h"
        assert await client.execute_command("HSET", key, "f", b"\xff\x00", "n", 7) == 2
        assert await client.execute_command("HGETALL", key) == [b"f", b"\xff\x00", b"n", b"7"]
        assert await client.execute_command("HGET", key, "missing") is None
        assert await client.execute_command("PING") == b"PONG"
        assert await client.ping() is True
        found = [k async for k in client.scan_iter(match=f"{key_prefix}*", count=10)]
        assert found == [key.encode()]
        assert [k async for k in client.scan_iter(match=f"{key_prefix}*", _type="zset")] == []
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_error_replies_raise_redis_py_exceptions_and_the_stream_stays_in_step(
    redis_server, key_prefix
):
    client = client_for(redis_server)
    try:
        key = f"{key_prefix}s"
        await client.execute_command("SET", key, "x")
        calls = [
            client.execute_command("HGET", key, "f"),  # WRONGTYPE
            client.execute_command("EVALSHA", "0" * 40, 0),  # NOSCRIPT
            client.execute_command("GET", key),
            client.execute_command("NOSUCHCOMMAND"),
            client.execute_command("ECHO", "after"),
        ]
        wrong, noscript, value, unknown, after = await asyncio.gather(
            *calls, return_exceptions=True
        )
        assert type(wrong) is redis.exceptions.ResponseError and "WRONGTYPE" in str(wrong)
        assert isinstance(noscript, redis.exceptions.NoScriptError)
        assert value == b"x" and after == b"after"
        assert type(unknown) is redis.exceptions.ResponseError and "unknown" in str(unknown)
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_wrongtype_reply_through_the_store_is_a_store_error_naming_the_node(
    redis_server, key_prefix
):
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=2.0)
    try:
        await store.client.execute_command("SET", store.owner_index_key("alice"), "x")
        with pytest.raises(RedisStoreError, match=f"Redis {redis_server.host}:") as caught:
            await store.owner_sessions("alice")
        assert "WRONGTYPE" in str(caught.value)
        assert not isinstance(caught.value, RedisUnavailableError)
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_cancelled_callers_replies_are_read_and_dropped_in_order(private_redis, key_prefix):
    client = client_for(private_redis, socket_timeout=30.0)
    try:
        keys = [f"{key_prefix}{i}" for i in range(40)]
        for i, key in enumerate(keys):
            await client.execute_command("SET", key, f"v{i}")
        private_redis.pause()
        tasks = [asyncio.ensure_future(client.execute_command("GET", key)) for key in keys]
        await asyncio.sleep(0)  # the commands leave in the next loop turn
        await asyncio.sleep(0)
        for task in tasks[::2]:  # every other caller gives up while its reply is owed
            task.cancel()
        private_redis.resume()
        for i, task in enumerate(tasks):
            if i % 2:
                assert await task == f"v{i}".encode()
            else:
                with pytest.raises(asyncio.CancelledError):
                    await task
        assert await client.execute_command("GET", keys[0]) == b"v0"
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_server_killed_mid_command_fails_the_callers_and_a_restart_is_reconnected(
    private_redis,
):
    client = client_for(private_redis, socket_timeout=30.0)
    try:
        assert await client.ping()
        private_redis.pause()
        in_flight = [asyncio.ensure_future(client.execute_command("ECHO", i)) for i in range(5)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        private_redis.kill()
        for task in in_flight:
            with pytest.raises(redis.exceptions.ConnectionError):
                await task
        with pytest.raises(redis.exceptions.ConnectionError, match=r"connection refused|Connect"):
            await client.execute_command("PING")  # reconnects: nothing listens
        private_redis.restart()
        assert await client.execute_command("ECHO", "back") == b"back"
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_the_store_reports_a_killed_server_as_unavailable_and_recovers(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=2.0)
    try:
        await store.save("k", rec())
        private_redis.pause()
        load = asyncio.ensure_future(store.load("k"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        private_redis.kill()
        with pytest.raises(RedisUnavailableError, match=f"{private_redis.port}: load failed"):
            await load
        private_redis.restart()
        assert await store.load("k") is None  # no persistence: the record is gone
        await store.save("k", rec(b"2"))
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields == {"a": b"2"}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_first_calls_share_one_connection_attempt(redis_server):
    client = client_for(redis_server, client_name="first-calls")
    try:
        replies = await asyncio.gather(*(client.execute_command("ECHO", str(i)) for i in range(50)))
        assert replies == [str(i).encode() for i in range(50)]
        assert await connections_named(client, "first-calls") == 1
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_caller_cancelled_while_connecting_leaves_the_attempt_to_the_others(redis_server):
    client = client_for(redis_server)
    try:
        first = asyncio.ensure_future(client.execute_command("ECHO", "first"))
        second = asyncio.ensure_future(client.execute_command("ECHO", "second"))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == b"second"
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_closing_while_connecting_fails_the_waiting_callers_as_a_connection_error(
    private_redis,
):
    client = client_for(private_redis, password="secret", socket_connect_timeout=30.0)
    private_redis.pause()  # the kernel accepts; the AUTH of the handshake gets no answer
    try:
        waiting = asyncio.ensure_future(client.execute_command("PING"))
        for _ in range(20):  # far enough into the handshake; it cannot finish
            await asyncio.sleep(0)
        assert not waiting.done()
        await client.aclose()
        with pytest.raises(redis.exceptions.ConnectionError, match="closed while connecting"):
            await waiting
    finally:
        private_redis.resume()
        await client.aclose()


@pytest.fixture
def select_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    admin = redis.Redis(redis_server.host, redis_server.port, db=5, socket_timeout=2)
    try:
        yield admin
    finally:
        admin.close()


@pytest.mark.gen_test(timeout=30)
async def test_the_database_in_the_url_is_selected(redis_server, key_prefix, select_db):
    store = RedisStore.from_url(f"{redis_server.url[:-2]}/5?prefix={key_prefix}", timeout=2.0)
    try:
        await store.save("k", rec())
        assert select_db.exists(store.redis_key("k")) == 1
        admin = redis_server.admin()
        assert admin.exists(store.redis_key("k")) == 0  # not in db 0
        admin.close()
    finally:
        await store.clear()
        await store.close()


@pytest.fixture
def password_redis(private_redis: RedisServer) -> Iterator[RedisServer]:
    admin = private_redis.admin()
    admin.execute_command("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all")
    admin.config_set("requirepass", "default-pw")
    admin.close()
    yield private_redis


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("credentials", [":default-pw", "alice:alice-pw"])
async def test_auth_with_a_password_or_an_acl_user(password_redis, credentials):
    server = password_redis
    url = f"redis://{credentials}@{server.host}:{server.port}/0"
    store = RedisStore.from_url(url, timeout=2.0)
    try:
        await store.open()
        await store.save("k", rec())
        assert await store.load("k") is not None
        whoami = await store.client.execute_command("ACL", "WHOAMI")
        assert whoami == (b"alice" if credentials.startswith("alice") else b"default")
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("credentials", ["", ":wrong-pw", "alice:wrong-pw"])
async def test_a_missing_or_wrong_password_is_reported_by_open(password_redis, credentials):
    server = password_redis
    at = f"{credentials}@" if credentials else ""
    store = RedisStore.from_url(f"redis://{at}{server.host}:{server.port}/0", timeout=2.0)
    try:
        with pytest.raises(RedisUnavailableError) as caught:
            await store.open()
        message = str(caught.value)
        assert f"Redis {server.host}:{server.port}: open failed" in message
        assert "AuthenticationError" in message
        assert "wrong-pw" not in message and "default-pw" not in message
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_unix_socket(redis_server, key_prefix):
    url = f"unix://{redis_server.unix_socket}?db=0&prefix={key_prefix}&client_name=unix-client"
    store = RedisStore.from_url(url, timeout=2.0)
    try:
        assert isinstance(store.client, MultiplexedClient)
        await store.save("k", rec())
        assert await store.load("k") is not None
        assert await connections_named(store.client, "unix-client") == 1
        assert store.address == f"unix:{redis_server.unix_socket}"
    finally:
        await store.clear()
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_client_redis_py_is_the_escape_hatch(redis_server, key_prefix):
    url = f"{redis_server.url}?prefix={key_prefix}&client=redis-py"
    store = RedisStore.from_url(url, timeout=2.0)
    try:
        assert isinstance(store.client, redis.asyncio.Redis)
        await store.save("k", rec())
        assert await store.load("k") is not None
    finally:
        await store.clear()
        await store.close()


# -- TLS ------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server certificate it signed for 127.0.0.1 (IP SAN) and localhost."""
    where = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=test-ca", "-keyout", str(where / "ca.key"), "-out", str(where / "ca.pem"),
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(where / "server.key"), "-out", str(where / "server.csr"),
    )  # fmt: skip
    (where / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", str(where / "server.csr"), "-CA", str(where / "ca.pem"),
        "-CAkey", str(where / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(where / "ext.cnf"), "-out", str(where / "server.pem"),
    )  # fmt: skip
    return where


@pytest.fixture
def tls_redis(redis_binary: str, tmp_path: Path, certificates: Path) -> Iterator[RedisServer]:
    tls_port = free_port()
    server = RedisServer(
        redis_binary,
        tmp_path / "redis-tls",
        extra_args=[
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certificates / "server.pem"),
            "--tls-key-file", str(certificates / "server.key"),
            "--tls-ca-cert-file", str(certificates / "ca.pem"),
            "--tls-auth-clients", "no",
        ],
    )
    server.start()
    server.tls_port = tls_port  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.gen_test(timeout=30)
async def test_tls_with_the_server_certificate_verified(tls_redis, certificates, key_prefix):
    ca = certificates / "ca.pem"
    url = f"rediss://127.0.0.1:{tls_redis.tls_port}/0?ssl_ca_certs={ca}&prefix={key_prefix}"
    store = RedisStore.from_url(url, timeout=2.0)
    try:
        assert isinstance(store.client, MultiplexedClient)
        await store.open()
        await store.save("k", rec())
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields == {"a": b"1"}
    finally:
        await store.clear()
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_tls_refuses_a_certificate_it_cannot_verify(tls_redis):
    # No CA given: the system's CAs do not know the test CA.
    store = RedisStore.from_url(f"rediss://127.0.0.1:{tls_redis.tls_port}/0", timeout=2.0)
    try:
        with pytest.raises(RedisUnavailableError, match=r"open failed.*(?i:certificate)"):
            await store.open()
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_tls_without_verification_when_the_url_says_so(tls_redis):
    url = f"rediss://127.0.0.1:{tls_redis.tls_port}/0?ssl_cert_reqs=none"
    client = RedisStore.from_url(url, timeout=2.0).client
    try:
        assert await client.execute_command("ECHO", "over tls") == b"over tls"
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


# -- timeouts ---------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_a_command_past_its_timeout_fails_and_its_late_reply_is_dropped(
    private_redis, key_prefix
):
    client = client_for(private_redis, command_timeout=0.3, socket_timeout=30.0)
    try:
        key = f"{key_prefix}k"
        await client.execute_command("SET", key, "late")
        private_redis.pause()
        for _ in range(2):  # the second, sent when the first failed, gets its own time
            started = time.monotonic()
            with pytest.raises(TimeoutError, match=r"within 0\.3s"):
                await client.execute_command("GET", key)
            assert 0.3 <= time.monotonic() - started < 0.3 + 0.25
        after = asyncio.ensure_future(client.execute_command("ECHO", "after"))
        private_redis.resume()
        assert await after == b"after"  # not the GETs' replies, which came first
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_that_stalls_is_dropped_and_the_next_command_reconnects(
    private_redis,
):
    client = client_for(private_redis, client_name="stalled", socket_timeout=0.3)
    try:
        assert await client.ping()
        private_redis.pause()
        with pytest.raises(redis.exceptions.TimeoutError, match="connection dropped"):
            await client.execute_command("ECHO", "never")
        private_redis.resume()
        assert await client.execute_command("ECHO", "again") == b"again"
        assert await connections_named(client, "stalled") == 1
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_passed_in_client_with_a_longer_bound_is_held_to_the_stores_timeout(
    private_redis,
):
    client = client_for(private_redis, command_timeout=10.0)
    store = RedisStore(client, timeout=0.3)
    try:
        await store.save("k", rec())
        private_redis.pause()
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"got no answer within 0\.3s"):
            await store.load("k")
        assert time.monotonic() - started < 0.3 + 0.25
        private_redis.resume()
        assert await store.load("k") is not None
    finally:
        await store.close()
        await client.aclose()
