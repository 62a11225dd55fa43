""":class:`MultiplexedClient` against hostile servers and networks, and operator faults.

Some tests use a fake server written here (:class:`FakeRedis`, an asyncio TCP server
on a free loopback port whose answers each test decides: silence, garbage, a reply
too large to allocate, a close between two handshake replies); the rest use real
``redis-server`` processes from the plugin's fixtures (``DEBUG SLEEP``, ``CLIENT
KILL``, ``SCRIPT FLUSH``, ``maxclients``, a changed ``requirepass``, an idle
``timeout``), plus a blocked event loop, a store opened by one event loop and served by
the next, and a close with calls in flight.  Tests wait on what a server saw or
answered; the one ``time.sleep`` is the blocked loop the test is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis
import redis.exceptions
from tornado_sessions_redis import RedisStore
from tornado_sessions_redis.multiplexed import ConnectionSettings, MultiplexedClient
from tornado_sessions_redis.store import RedisUnavailableError
from tornado_sessions_redis.testing import RedisServer

from tornado_sessions import Record

#: What a fake server does with one command: bytes to send back, or None for silence.
Answer = Callable[[list[bytes]], bytes | None]


def rec(value: bytes = b"1") -> Record:
    return Record({"a": value}, b"m", time.time() + 600)


def standard(command: list[bytes]) -> bytes | None:
    """Answers like a healthy Redis for the few commands the tests send."""
    name = command[0].upper()
    if name in (b"AUTH", b"SELECT", b"CLIENT"):
        return b"+OK\r\n"
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"ECHO":
        return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])
    return b"-ERR unknown command\r\n"


class FakeRedis:
    """A TCP server speaking just enough RESP; ``answer`` decides each reply."""

    def __init__(self, answer: Answer = standard, greeting: bytes = b"") -> None:
        self.answer = answer
        #: Sent as soon as a connection is accepted (then, if ``close_after_greeting``, closed).
        self.greeting = greeting
        self.close_after_greeting = False

        self.commands: list[list[bytes]] = []
        self.accepted = 0
        #: Connections accepted and not yet ended.
        self.open = 0
        #: Set each time a client's connection ends (the client closed it, or we did).
        self.ended = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def settings(self, **more: Any) -> ConnectionSettings:
        return ConnectionSettings(host="127.0.0.1", port=self.port, **more)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self._writers.append(writer)
        parser = hiredis.Reader()
        try:
            if self.greeting:
                writer.write(self.greeting)
                await writer.drain()
                if self.close_after_greeting:
                    return
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    self.commands.append(command)
                    reply = self.answer(command)
                    if reply is not None and reply.endswith(b"CLOSE"):  # what precedes, then close
                        writer.write(reply[: -len(b"CLOSE")])
                        await writer.drain()
                        return
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            self.open -= 1
            self.ended.set()

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def fake_redis(answer: Answer = standard, greeting: bytes = b"") -> AsyncIterator[FakeRedis]:
    server = FakeRedis(answer, greeting)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What reaches the event loop's exception handler (unretrieved futures, failed callbacks)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


def silent(command: list[bytes]) -> bytes | None:
    return None


# -- connecting ------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_attempt_that_failed_after_its_callers_left_is_not_reused():
    async with fake_redis(silent) as server:
        # The caller's bound (0.2 s) ends before the attempt's own (0.4 s): the attempt
        # fails later, with nobody waiting on it.
        client = MultiplexedClient(
            server.settings(password="pw", command_timeout=0.2, socket_connect_timeout=0.4)
        )
        try:
            with pytest.raises(TimeoutError):
                await client.execute_command("PING")
            await server.ended.wait()  # the attempt gave up and closed its connection
            server.answer = standard  # the server is healthy again
            assert await client.execute_command("PING") == b"PONG"
        finally:
            await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_close_between_auth_and_select_fails_the_connect_and_the_next_one_works():
    def close_at_select(command: list[bytes]) -> bytes | None:
        return b"CLOSE" if command[0].upper() == b"SELECT" else standard(command)

    async with fake_redis(close_at_select) as server:
        store = RedisStore(
            MultiplexedClient(server.settings(password="pw", db=3, command_timeout=2.0)),
            timeout=2.0,
        )
        try:
            where = f"127.0.0.1:{server.port}: open failed"
            with pytest.raises(RedisUnavailableError, match=where):
                await store.open()
            server.answer = standard
            await store.open()
            assert [c[0] for c in server.commands] == [b"AUTH", b"SELECT"] * 2 + [b"PING"]
        finally:
            await store.client.aclose()


@pytest.fixture
def password_redis(private_redis: RedisServer) -> Iterator[RedisServer]:
    admin = private_redis.admin()
    admin.config_set("requirepass", "default-pw")
    admin.close()
    yield private_redis


#: Run in a fresh interpreter: connect with ``settings`` (JSON in argv[1]), print the
#: failure; asyncio.run() then closes the loop, so every future is collected and any
#: unretrieved exception is logged to stderr.
_CONNECT_ONCE = """
import asyncio, json, sys
from tornado_sessions_redis.multiplexed import ConnectionSettings, MultiplexedClient

async def main():
    client = MultiplexedClient(ConnectionSettings(**json.loads(sys.argv[1])))
    try:
        await client.execute_command("PING")
    except Exception as exc:
        print(type(exc).__name__, exc)
    await client.aclose()

asyncio.run(main())
"""


def connect_once(**settings: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CONNECT_ONCE, json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def test_a_wrong_password_with_a_database_leaves_no_unretrieved_error(password_redis):
    server = password_redis
    done = connect_once(
        host=server.host, port=server.port, password="wrong-pw", db=3, client_name="app",
        command_timeout=2.0, socket_connect_timeout=2.0,
    )  # fmt: skip
    assert done.stdout.startswith("AuthenticationError")
    assert "never retrieved" not in done.stderr, done.stderr


def test_a_handshake_that_times_out_leaves_no_unretrieved_error(private_redis):
    server = private_redis
    server.pause()  # the kernel accepts; AUTH, SELECT and SETNAME get no answer
    try:
        done = connect_once(
            host=server.host, port=server.port, password="pw", db=3, client_name="app",
            command_timeout=5.0, socket_connect_timeout=0.2,
        )  # fmt: skip
    finally:
        server.resume()
    assert done.stdout.startswith("TimeoutError Timeout connecting")
    assert "never retrieved" not in done.stderr, done.stderr


@pytest.mark.gen_test(timeout=30)
async def test_a_server_at_maxclients_is_reported_at_once_with_its_reason(
    redis_binary, tmp_path
):
    server = RedisServer(redis_binary, tmp_path / "full", extra_args=["--maxclients", "1"])
    server.start()
    holder = server.admin()
    try:
        holder.ping()  # the one connection the server accepts
        store = RedisStore.from_url(server.url, timeout=5.0)
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError) as caught:
            await store.open()
        assert time.monotonic() - started < 2.5, "it waited for the timeout"
        assert "max number of clients reached" in str(caught.value)
        await store.close()
    finally:
        holder.close()
        server.stop()


@pytest.mark.gen_test(timeout=30)
async def test_maxclients_read_as_the_first_commands_reply_is_a_connection_error():
    # The race the test above leaves to chance: the refusal arrives after the command went.
    def full(command: list[bytes]) -> bytes | None:
        return b"-ERR max number of clients reached\r\n"

    async with fake_redis(full) as server:
        client = MultiplexedClient(server.settings(command_timeout=2.0))
        try:
            with pytest.raises(redis.exceptions.ConnectionError, match="max number of clients"):
                await client.execute_command("PING")
        finally:
            await client.aclose()


# -- hostile replies --------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_an_array_too_large_to_allocate_fails_the_command_as_a_connection_error():
    def huge(command: list[bytes]) -> bytes | None:
        return b"*4000000000\r\n" if command[0] == b"ECHO" else standard(command)

    async with fake_redis(huge) as server:
        client = MultiplexedClient(server.settings(command_timeout=2.0))
        try:
            with loop_errors() as seen, pytest.raises(redis.exceptions.ConnectionError):
                await client.execute_command("ECHO", "x")
            assert [context.get("message") for context in seen] == []
            server.answer = standard
            assert await client.execute_command("ECHO", "y") == b"y"
        finally:
            await client.aclose()


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize(
    "garbage", [b"?what\r\n", b"$-7\r\n", b"*1\r\n!x\r\n", b":12a\r\n"]
)
async def test_garbage_from_the_server_fails_the_command_and_the_next_reconnects(garbage):
    def bad(command: list[bytes]) -> bytes | None:
        return garbage if command[0] == b"ECHO" else standard(command)

    async with fake_redis(bad) as server:
        client = MultiplexedClient(server.settings(command_timeout=2.0))
        try:
            with loop_errors() as seen, pytest.raises(redis.exceptions.RedisError):
                await client.execute_command("ECHO", "x")
            assert seen == []
            server.answer = standard
            assert await client.execute_command("ECHO", "y") == b"y"
        finally:
            await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_server_that_closes_mid_reply_fails_the_command_at_once():
    def half_a_reply(command: list[bytes]) -> bytes | None:
        if command[0] == b"ECHO" and command[1] == b"cut":
            return b"$10\r\nhalf a CLOSE"  # "$10", 7 bytes of 10, and the server closes
        return standard(command)

    async with fake_redis(half_a_reply) as server:
        client = MultiplexedClient(server.settings(command_timeout=5.0))
        try:
            assert await client.execute_command("ECHO", "before") == b"before"
            started = time.monotonic()
            with pytest.raises(redis.exceptions.ConnectionError, match="closed by the server"):
                await client.execute_command("ECHO", "cut")
            assert time.monotonic() - started < 2.5, "it waited for the timeout"
            assert await client.execute_command("ECHO", "after") == b"after"
            assert server.accepted == 2
        finally:
            await client.aclose()


# -- operator faults on a real server --------------------------------------------------


@pytest.fixture
def debug_redis(redis_binary: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A server that allows ``DEBUG SLEEP`` (off by default since Redis 7)."""
    server = RedisServer(
        redis_binary, tmp_path / "debug", extra_args=["--enable-debug-command", "yes"]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def send_raw(server: RedisServer, *commands: bytes | tuple[bytes, ...]) -> list[Any]:
    """Send commands (a line split at spaces, or the arguments) on a connection of their own."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    parser = hiredis.Reader()
    replies: list[Any] = []
    try:
        packed = [
            hiredis.pack_command(c if isinstance(c, tuple) else tuple(c.split())) for c in commands
        ]
        writer.write(b"".join(packed))
        await writer.drain()
        while len(replies) < len(commands):
            parser.feed(await reader.read(65536))
            while (reply := parser.gets()) is not False:
                replies.append(reply)
    finally:
        writer.close()
        await writer.wait_closed()
    return replies


@pytest.mark.gen_test(timeout=60)
async def test_late_replies_after_a_debug_sleep_never_reach_another_users_load(debug_redis):
    # A long socket_timeout keeps the connection: the late replies come on it.
    store = RedisStore.from_url(f"{debug_redis.url}?socket_timeout=30", timeout=0.5)
    users = [f"user-{i}" for i in range(40)]
    try:
        await asyncio.gather(*(store.save(user, rec(user.encode())) for user in users))
        sleeping = asyncio.ensure_future(send_raw(debug_redis, b"DEBUG SLEEP 1.2"))
        while True:  # until the server is asleep: a load sent now gets no answer in time
            try:
                await store.load(users[0])
            except TimeoutError:
                break

        async def load(user: str) -> Any:
            try:
                loaded = await store.load(user)
            except TimeoutError:
                return "timed out"
            return None if loaded is None else loaded.fields["a"]

        # The first wave times out; the second is sent while the first's replies are
        # owed, and is answered right after them, on the same connection.
        first = await asyncio.gather(*(load(user) for user in users[::2]))
        second = await asyncio.gather(*(load(user) for user in users[1::2]))
        await sleeping
        third = await asyncio.gather(*(load(user) for user in users))
        waves = [*zip(users[::2], first, strict=True), *zip(users[1::2], second, strict=True)]
        for user, got in waves:
            assert got in (user.encode(), "timed out"), (user, got)
        assert "timed out" in first
        assert third == [user.encode() for user in users]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_script_flush_mid_traffic_costs_no_request(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=2.0)
    users = [f"user-{i}" for i in range(60)]
    try:
        await asyncio.gather(*(store.save(user, rec(user.encode())) for user in users))
        for _ in range(5):
            loads = [asyncio.ensure_future(store.load(user)) for user in users]
            await asyncio.sleep(0)  # half of them are on the wire
            assert await send_raw(private_redis, b"SCRIPT FLUSH") == [b"OK"]
            loaded = await asyncio.gather(*loads)
            assert [r.fields["a"] if r else None for r in loaded] == [u.encode() for u in users]
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_client_kill_fails_the_commands_in_flight_and_the_next_reconnects(debug_redis):
    store = RedisStore.from_url(f"{debug_redis.url}?client_name=victim", timeout=5.0)
    try:
        await store.save("k", rec(b"mine"))
        sleeping = asyncio.ensure_future(
            send_raw(debug_redis, b"DEBUG SLEEP 0.3", b"CLIENT KILL TYPE normal SKIPME yes")
        )
        in_flight = [asyncio.ensure_future(store.load("k")) for _ in range(10)]
        results = await asyncio.gather(*in_flight, return_exceptions=True)
        await sleeping
        for result in results:  # answered before the kill, or failed by it: never wrong
            if isinstance(result, BaseException):
                assert isinstance(result, RedisUnavailableError), result
                assert f"Redis {debug_redis.host}:{debug_redis.port}: load failed" in str(result)
            else:
                assert result is not None and result.fields == {"a": b"mine"}
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields == {"a": b"mine"}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_changed_requirepass_is_reported_and_recovered_from(private_redis):
    server = private_redis
    store = RedisStore.from_url(f"{server.url}?client_name=app", timeout=2.0)
    try:
        await store.save("k", rec())
        await send_raw(server, b"CONFIG SET requirepass new-pw")
        assert await store.load("k") is not None  # an authenticated connection stays so
        await send_raw(server, b"AUTH new-pw", b"CLIENT KILL TYPE normal SKIPME yes")
        outcome: Any = None
        for _ in range(2):  # the first may still be written on the killed connection
            try:
                outcome = await store.load("k")
            except RedisUnavailableError as exc:
                outcome = exc
                if "AuthenticationError" in str(exc):
                    break
        assert isinstance(outcome, RedisUnavailableError)
        assert f"Redis {server.host}:{server.port}: load failed" in str(outcome)
        assert "NOAUTH" in str(outcome) and "new-pw" not in str(outcome)
        await send_raw(server, b"AUTH new-pw", (b"CONFIG", b"SET", b"requirepass", b""))
        assert await store.load("k") is not None
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_server_that_never_answers_costs_a_bounded_number_of_connections():
    # Steady traffic to a server that accepts and reads but never answers: each
    # connection is retired after socket_timeout and closed by 2 * socket_timeout, so
    # neither connections nor the commands owed on them pile up.
    async with fake_redis(silent) as server:
        client = MultiplexedClient(server.settings(command_timeout=0.1, socket_timeout=0.1))
        failures: list[BaseException] = []

        async def caller() -> None:
            for _ in range(8):
                try:
                    await client.execute_command("ECHO", "x")
                except (TimeoutError, redis.exceptions.TimeoutError) as exc:
                    failures.append(exc)

        try:
            await asyncio.gather(*(caller() for _ in range(20)))
            assert len(failures) == 160
            assert server.open <= 3, server.open
            assert server.accepted <= 12, server.accepted  # about one per 0.1 s, 0.8 s
        finally:
            await client.aclose()


# -- a slow event loop ------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_replies_that_came_while_the_loop_was_blocked_beat_their_deadline(redis_server):
    # A handler that blocks the loop past every deadline: the replies are already in
    # the socket when the loop wakes, and are read before the timer runs.
    client = MultiplexedClient(
        ConnectionSettings(
            host=redis_server.host, port=redis_server.port, command_timeout=0.2, socket_timeout=0.2
        )
    )
    try:
        assert await client.ping()
        calls = [asyncio.ensure_future(client.execute_command("ECHO", str(i))) for i in range(20)]
        await asyncio.sleep(0)  # written
        time.sleep(0.5)  # the blocking handler (this is the scenario, not a wait)
        assert await asyncio.gather(*calls) == [str(i).encode() for i in range(20)]
        assert await client.execute_command("ECHO", "next") == b"next"
    finally:
        await client.aclose()


# -- another event loop ---------------------------------------------------------------


def test_a_store_opened_by_one_event_loop_serves_the_next(redis_server, key_prefix):
    # asyncio.run(open_sessions(app)), then the server's own loop: the connection made
    # by the first loop cannot serve the second, which connects again.
    store = RedisStore.from_url(f"{redis_server.url}?prefix={key_prefix}", timeout=2.0)
    asyncio.run(store.open())

    async def serve() -> Any:
        await store.save("k", rec(b"served"))
        loaded = await store.load("k")
        await store.destroy("k")
        await store.close()
        return loaded

    loaded = asyncio.run(serve())
    assert loaded is not None and loaded.fields == {"a": b"served"}


@pytest.mark.gen_test(timeout=30)
async def test_a_connection_the_server_closed_while_idle_is_replaced(private_redis):
    """What Redis's idle ``timeout`` (or an operator's ``CLIENT KILL``) does to a quiet
    connection: closed by the server between commands.  The next call reconnects."""
    server = private_redis
    store = RedisStore.from_url(f"{server.url}?client_name=idle", timeout=2.0)
    try:
        await store.save("k", rec())
        (listing,) = await send_raw(server, b"CLIENT LIST")
        (line,) = [line for line in listing.split(b"\n") if b" name=idle " in line]
        client_id = line.split(b" ", 1)[0].removeprefix(b"id=")
        (killed,) = await send_raw(server, b"CLIENT KILL ID " + client_id)
        assert killed == 1
        loaded = await store.load("k")
        assert loaded is not None and loaded.fields == {"a": b"1"}
    finally:
        await store.close()


@pytest.mark.gen_test(timeout=30)
async def test_closing_the_store_fails_the_calls_in_flight_at_once(debug_redis):
    store = RedisStore.from_url(debug_redis.url, timeout=5.0)
    await store.save("k", rec())
    sleeping = asyncio.ensure_future(send_raw(debug_redis, b"DEBUG SLEEP 1"))
    while True:  # until a load is owed: the server is asleep
        probe = asyncio.ensure_future(store.load("k"))
        done, _ = await asyncio.wait([probe], timeout=0.2)
        if not done:
            break
    started = time.monotonic()
    await store.close()
    with pytest.raises(RedisUnavailableError, match=r"load failed.*client closed"):
        await probe
    assert time.monotonic() - started < 0.5
    await sleeping
