"""The store's own Redis client for a single node: one connection, every command pipelined.

Why it exists: a session read is one ``EVALSHA`` round trip, and with redis-py the
client's own Python code (connection pool checkout, response callbacks, the
``async with`` of each command, its reader task) costs more server CPU than the
rest of the request.  This client does the least a request needs: encode the
command, write it, and wake the caller when its reply has been parsed.

How it works:

- **One connection** (TCP, TLS or a Unix socket), opened on the first command (or
  by :meth:`MultiplexedClient.ping`, which the store's ``open`` sends).  Every
  concurrent caller sends its command on it without waiting for the replies of
  the others (pipelining); the commands sent in one turn of the event loop leave
  in one write at the start of the next (:meth:`_Protocol.send`).
- **Replies are FIFO.**  Redis answers the commands of one connection in the
  order it received them, so the client keeps a :class:`~collections.deque` of
  the callers' futures in sending order; :meth:`_Protocol.data_received` feeds
  the bytes to ``hiredis.Reader`` (the C parser redis-py uses too) and hands
  each complete reply to the oldest future.
- **Cancellation never desynchronises.**  A caller that is cancelled (the core's
  ``store_timeout``, a client that went away) leaves its future in the queue: its
  reply is still read, and discarded.  The next caller's reply is its own.
- **Failures.**  When the connection drops, every command in flight fails with
  :class:`redis.exceptions.ConnectionError` (the store reports it as
  ``RedisUnavailableError`` naming the node and the cause), and the next command
  connects again.  Error replies raise the :mod:`redis.exceptions` class redis-py
  would (``NOSCRIPT`` -> :class:`~redis.exceptions.NoScriptError`, ``NOAUTH`` ->
  :class:`~redis.exceptions.AuthenticationError`, anything else
  :class:`~redis.exceptions.ResponseError`), so the store's error handling is one
  path for both clients.
- **Timeouts without a timer per command.**  With ``command_timeout`` (the store
  passes its ``timeout``), a command whose reply has not come that long after it
  was sent fails with :class:`TimeoutError`.  Each command only records when it
  was sent; one timer per connection, due at the oldest deadline and running only
  while commands are in flight, ends the overdue ones (:meth:`_Protocol.tick`).
  ``asyncio.timeout`` around every call, which the store would otherwise need,
  costs several microseconds of CPU per call: more than parsing the reply.  A
  connection whose callers got nothing at all for ``socket_timeout`` is retired:
  new commands go to a new connection, and it is closed once nobody waits on it,
  so a half-open connection is not kept for ever.
- **Connecting** (``socket_connect_timeout``) sends ``AUTH``, ``SELECT`` and
  ``CLIENT SETNAME`` as needed and waits for their replies before any command
  goes out, so a wrong password is reported as such.  Concurrent first callers
  share one attempt; a caller cancelled while it waits does not abort it.

Replies are RESP2, as redis-py gives them with ``decode_responses=False``:
``bytes`` for strings and status replies (``b"OK"``), ``int``, ``None`` for nil,
``list``.  No response callbacks run: ``execute_command("PING")`` gives
``b"PONG"`` (:meth:`MultiplexedClient.ping` gives ``True``).

What it offers is exactly what :class:`~tornado_sessions_redis.store.RedisStore`
uses: :meth:`~MultiplexedClient.execute_command` (scripts go through it as
``EVALSHA``/``EVAL``), :meth:`~MultiplexedClient.scan_iter`,
:meth:`~MultiplexedClient.unlink`, :meth:`~MultiplexedClient.ping` and
:meth:`~MultiplexedClient.aclose`.  It is not a general Redis client: no
``MULTI``/``WATCH`` (which would need the connection to oneself), no
``SUBSCRIBE``, no blocking commands (one would stall every other caller), no
RESP3.  Redis Cluster, or a client passed to the store, stay with redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import hiredis
import redis.exceptions

__all__ = ["ConnectionSettings", "MultiplexedClient"]


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where and how to connect; built from the store URL by :mod:`.urls`."""

    host: str = "localhost"
    port: int = 6379
    #: A Unix socket path: when set, ``host`` and ``port`` are not used.
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    #: Seconds each command may wait for its reply (then :class:`TimeoutError`); the
    #: store sets its ``timeout``.  ``None``: no bound.
    command_timeout: float | None = None
    #: Seconds a connection with commands in flight may receive nothing before it is
    #: retired (see :class:`_Protocol`).
    socket_timeout: float | None = None
    #: Seconds to connect (TCP, TLS and the AUTH/SELECT handshake).
    socket_connect_timeout: float | None = None
    socket_keepalive: bool = False
    client_name: str | None = None
    #: Makes the TLS context (``rediss://``) when connecting; ``None``: plain TCP.
    #: Called at each connection; redis-py's ``RedisSSLContext.get`` builds the context at
    #: the first one that succeeds and keeps it, so certificate files are read then (a
    #: missing file fails that connection, not the URL), and a renewed one needs a restart.
    tls: Callable[[], ssl.SSLContext] | None = None

    @property
    def address(self) -> str:
        """``host:port`` or ``unix:path``, for messages (no credentials)."""
        if self.path is not None:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:  # never show the password
        return f"<ConnectionSettings {self.address} db={self.db}>"


def _pack(*args: Any) -> bytes:
    """One command in RESP (hiredis's encoder, as redis-py uses)."""
    packed: bytes = hiredis.pack_command(args)
    return packed


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a connection attempt's failure as seen (its callers report it, if any are left)."""
    if not task.cancelled():
        task.exception()


class _ErrorReply(Exception):
    """What ``hiredis.Reader`` makes of an error reply (``-ERR ...``); mapped before raising."""


#: The first word of an error reply -> the redis-py exception it becomes.
_ERRORS: dict[str, type[redis.exceptions.RedisError]] = {
    "NOSCRIPT": redis.exceptions.NoScriptError,
    "LOADING": redis.exceptions.BusyLoadingError,
    "READONLY": redis.exceptions.ReadOnlyError,
    "NOAUTH": redis.exceptions.AuthenticationError,
    "WRONGPASS": redis.exceptions.AuthenticationError,
    "NOPERM": redis.exceptions.NoPermissionError,
    "EXECABORT": redis.exceptions.ExecAbortError,
}


#: Error replies that refuse the connection itself (as redis-py reads them): Redis at
#: ``maxclients`` says so as it accepts, then closes.  The message can arrive before the
#: first command is sent, or as that command's reply, depending on who is quicker.
_REFUSALS = ("ERR max number of clients reached",)


def _error(reply: _ErrorReply) -> redis.exceptions.RedisError:
    text = str(reply)
    if text.startswith(_REFUSALS):
        return redis.exceptions.ConnectionError(text)
    code = text.split(" ", 1)[0]
    kind = _ERRORS.get(code, redis.exceptions.ResponseError)
    return kind(text, status_code=code if code.isupper() else None)


class _Protocol(asyncio.Protocol):
    """One connection: writes commands, matches each parsed reply to the oldest waiter."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: str,
        command_timeout: float | None = None,
        socket_timeout: float | None = None,
    ) -> None:
        self.loop = loop
        self.address = address
        self.command_timeout = command_timeout
        self.socket_timeout = socket_timeout
        #: Seconds between two stall checks (see :meth:`tick`), if any.
        self.stall_period = socket_timeout / 4.0 if socket_timeout is not None else None
        firsts = [t for t in (command_timeout, self.stall_period) if t is not None]
        #: Seconds from a command on an idle connection to the first :meth:`tick`.
        self.first_tick: float | None = min(firsts) if firsts else None
        self.ticker: asyncio.TimerHandle | None = None
        #: Loop time :attr:`ticker` is due at.
        self.tick_at = 0.0
        #: Number (counted from 0 on this connection) of the first command whose
        #: deadline :meth:`tick` has not passed yet.
        self.checked = 0
        #: When the replies last moved on, as the ticks saw it (loop time).
        self.progress_at = 0.0
        self.progress_replies = 0
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future[Any]] = deque()
        #: Loop time each command in ``waiters`` was sent at, in the same order.
        self.sent_at: deque[float] = deque()
        #: Encoded commands waiting for :meth:`flush`, in the order of ``waiters``.
        self.outgoing: list[bytes] = []
        self.reader = hiredis.Reader(replyError=_ErrorReply)
        #: Set once the connection is gone: nothing may be written any more.
        self.lost = False
        #: False once lost, or retired after a stall: new commands go elsewhere.
        self.usable = True
        #: Done when the connection is gone (for a clean close).
        self.closed: asyncio.Future[None] = loop.create_future()
        #: Replies parsed so far.
        self.replies = 0
        self._failure: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one encoded command; the future gets its reply (or its error).

        Commands queued in the same turn of the event loop leave in one write at the
        start of the next turn (:meth:`flush`): one system call for all the requests
        a turn served, instead of one each.
        """
        loop = self.loop
        waiter = loop.create_future()
        if self.lost:  # gone between the caller's check and now: nothing would answer
            cause = self._failure
            failure = redis.exceptions.ConnectionError(
                str(cause) if cause is not None else f"connection to {self.address} lost"
            )
            failure.__cause__ = cause
            waiter.set_exception(failure)
            return waiter
        waiters = self.waiters
        waiters.append(waiter)
        now = loop.time()
        self.sent_at.append(now)
        first_tick = self.first_tick
        if first_tick is not None:
            if len(waiters) == 1:  # the connection was idle: the stall clock starts now
                self.progress_at = now
                self.progress_replies = self.replies
            due = now + first_tick
            if self.ticker is None or self.tick_at > due:
                self._tick_at(due)
        outgoing = self.outgoing
        if outgoing:
            outgoing.append(command)
        else:
            outgoing.append(command)
            self.loop.call_soon(self.flush)
        return waiter

    def flush(self) -> None:
        """Write the commands queued since the last flush."""
        outgoing = self.outgoing
        if self.lost or self.transport is None:  # their waiters have failed already
            outgoing.clear()
            return
        if len(outgoing) == 1:
            self.transport.write(outgoing[0])
        else:
            self.transport.write(b"".join(outgoing))
        outgoing.clear()

    def _tick_at(self, when: float) -> None:
        if self.ticker is not None:
            self.ticker.cancel()
        self.tick_at = when
        self.ticker = self.loop.call_at(when, self.tick)

    def tick(self) -> None:
        """Run when the oldest pending deadline is due (one timer per connection).

        - A command whose reply has not come ``command_timeout`` after it was sent
          fails with :class:`TimeoutError`; its reply, if it ever comes, is read and
          dropped like a cancelled caller's.
        - Every ``socket_timeout / 4`` while commands are in flight: a connection
          whose callers have waited ``socket_timeout`` with no reply at all is
          *retired*: new commands go to a new connection, while those already on it
          keep their own time.  It is closed once no caller waits on it, or after
          twice ``socket_timeout``, failing what is left with
          :class:`redis.exceptions.TimeoutError`.
        """
        self.ticker = None
        if self.lost:
            return
        now = self.loop.time()
        waiters = self.waiters
        due = math.inf
        timeout = self.command_timeout
        if timeout is not None:
            sent_at = self.sent_at
            index = max(self.checked - self.replies, 0)
            count = len(waiters)
            while index < count and sent_at[index] + timeout <= now:
                waiter = waiters[index]
                if not waiter.done():
                    waiter.set_exception(
                        TimeoutError(f"no reply from {self.address} within {timeout}s")
                    )
                index += 1
            self.checked = self.replies + index
            if index < count:
                due = sent_at[index] + timeout
        if self.replies != self.progress_replies:
            self.progress_replies = self.replies
            self.progress_at = now
        if self.socket_timeout is not None and self.stall_period is not None and waiters:
            waiting = any(not waiter.done() for waiter in waiters)
            stalled = now - self.progress_at
            if self.usable and waiting and stalled >= self.socket_timeout:
                self.usable = False
            if not self.usable and (not waiting or stalled >= 2 * self.socket_timeout):
                self.abort(
                    redis.exceptions.TimeoutError(
                        f"no reply from {self.address} within {self.socket_timeout}s; "
                        "connection dropped"
                    )
                )
                return
            due = min(due, now + self.stall_period)
        if due != math.inf:  # else nothing in flight: the next command starts the timer
            self._tick_at(due)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiters = self.waiters
        sent_at = self.sent_at
        while True:
            try:
                reply = reader.gets()
            except Exception as exc:  # ProtocolError; MemoryError for an absurd array length
                self.abort(
                    redis.exceptions.ConnectionError(
                        f"unreadable reply from {self.address}: {type(exc).__name__}: {exc}"
                    )
                )
                return
            if reply is False:
                return
            self.replies += 1
            if not waiters:  # a reply nobody asked for: the stream cannot be trusted
                # (Redis at maxclients, for one, says so and closes as it accepts.)
                what = f": {reply}" if type(reply) is _ErrorReply else ""
                self.abort(
                    redis.exceptions.ConnectionError(
                        f"unexpected reply from {self.address}{what}"
                    )
                )
                return
            waiter = waiters.popleft()
            sent_at.popleft()
            if waiter.done():  # its caller was cancelled: the reply is read and dropped
                continue
            if type(reply) is _ErrorReply:
                waiter.set_exception(_error(reply))
            else:
                waiter.set_result(reply)

    def abort(self, failure: BaseException) -> None:
        """Drop the connection; every command in flight fails with ``failure``."""
        if self._failure is None:
            self._failure = failure
        self.lost = True
        self.usable = False
        if self.transport is not None:
            if self.loop.is_closed():
                # Nothing runs on a closed loop any more (not even connection_lost): let
                # go of the transport, whose socket is closed when it is collected.
                self.transport = None
                self.waiters.clear()
                self.sent_at.clear()
            else:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.usable = False
        if self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None
        failure = self._failure
        if failure is None:
            how = "closed by the server" if exc is None else f"lost: {exc}"
            failure = redis.exceptions.ConnectionError(f"connection to {self.address} {how}")
            if exc is not None:
                failure.__cause__ = exc
            self._failure = failure
        waiters = self.waiters
        self.sent_at.clear()
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(failure)
        if not self.closed.done():
            self.closed.set_result(None)


class MultiplexedClient:
    """A single-node Redis client multiplexing every command on one connection.

    See the module docstring.  ``settings`` says where to connect; nothing is
    connected until the first command.  Safe for any number of concurrent callers
    on one event loop.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None
        #: Connections retired after a stall that still have callers (closed by
        #: their own ticks, or by :meth:`aclose`).
        self._retired: list[_Protocol] = []

    def __repr__(self) -> str:
        return f"<MultiplexedClient {self.settings.address} db={self.settings.db}>"

    # -- commands -----------------------------------------------------------------

    def execute_command(self, *args: Any, **options: Any) -> Awaitable[Any]:
        """Send one command; await the result for its reply.

        ``args`` are the command and its arguments (``bytes``, ``str``, ``int`` or
        ``float``).  ``options`` are accepted for compatibility with redis-py's
        signature and must be empty.
        """
        if options:
            raise TypeError(f"MultiplexedClient takes no command options: {sorted(options)}")
        command = hiredis.pack_command(args)
        protocol = self._protocol
        # (A connection serves only the loop that made it: asyncio.run(open_sessions(app))
        # then another loop for the server must connect again, not fail every call.)
        if protocol is not None and protocol.usable and protocol.loop is asyncio.get_running_loop():
            return protocol.send(command)
        return self._connect_and_send(command)

    async def _connect_and_send(self, command: bytes) -> Any:
        """The first command after connecting: bounded by ``command_timeout`` as a whole."""
        async with asyncio.timeout(self.settings.command_timeout):
            protocol = await self._connected()
            return await protocol.send(command)

    async def ping(self) -> bool:
        """``PING``: connects if needed; ``True`` when the server answers."""
        return bool(await self.execute_command("PING") == b"PONG")

    async def unlink(self, *keys: bytes | str) -> int:
        """``UNLINK`` the keys; how many existed."""
        return int(await self.execute_command("UNLINK", *keys))

    async def scan_iter(
        self,
        match: bytes | str | None = None,
        count: int | None = None,
        _type: str | None = None,
    ) -> AsyncIterator[bytes]:
        """Every key ``SCAN`` finds (each round trip is one command; keys may repeat)."""
        args: list[bytes | str | int] = []
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        if _type is not None:
            args += ["TYPE", _type]
        cursor: bytes | int = 0
        while True:
            cursor, keys = await self.execute_command("SCAN", cursor, *args)
            for key in keys:
                yield key
            if cursor in (b"0", 0):
                return

    async def aclose(self) -> None:
        """Close the connection (commands in flight fail); a later command reconnects."""
        connecting, self._connecting = self._connecting, None
        loop = asyncio.get_running_loop()
        if connecting is not None and not connecting.done() and connecting.get_loop() is loop:
            connecting.cancel()
            with contextlib.suppress(BaseException):
                await connecting
        protocol, self._protocol = self._protocol, None
        open_ones = [*self._retired, *([protocol] if protocol is not None else [])]
        self._retired = []
        for each in open_ones:
            if each.transport is not None and not each.closed.done():
                each.abort(redis.exceptions.ConnectionError("client closed"))
                if each.loop is loop:  # else closed when that loop runs again (or never)
                    await each.closed

    # -- connecting -----------------------------------------------------------------

    async def _connected(self) -> _Protocol:
        """The open connection, after connecting if there is none (one attempt at a time)."""
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is not None and protocol.usable:
            if protocol.loop is loop:
                return protocol
            protocol.abort(redis.exceptions.ConnectionError("used from another event loop"))
        if protocol is not None and not protocol.lost:  # retired: still has callers
            self._retired = [each for each in self._retired if not each.lost]
            if protocol not in self._retired:
                self._retired.append(protocol)
        task = self._connecting
        if task is None or task.done() or task.get_loop() is not loop:
            # A finished attempt is never reused: if it failed after its callers had
            # given up, its failure is stale (the server may be back).
            task = self._connecting = loop.create_task(self._connect(loop))
            task.add_done_callback(_retrieve)  # its callers may all have been cancelled
        try:
            # Shielded: a cancelled caller must not abort the attempt others wait on.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                # The attempt was cancelled (by aclose), not this caller.
                raise redis.exceptions.ConnectionError(
                    f"client closed while connecting to {self.settings.address}"
                ) from None
            raise
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        settings = self.settings
        try:
            async with asyncio.timeout(settings.socket_connect_timeout):
                protocol = await self._open(loop)
                try:
                    await self._handshake(protocol)
                except BaseException:
                    protocol.abort(redis.exceptions.ConnectionError("handshake failed"))
                    raise
        except TimeoutError as exc:
            raise redis.exceptions.TimeoutError(
                f"Timeout connecting to {settings.address}"
            ) from exc
        except OSError as exc:
            raise redis.exceptions.ConnectionError(
                f"Error connecting to {settings.address}: {exc}"
            ) from exc
        self._protocol = protocol
        return protocol

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        settings = self.settings
        address = settings.address

        def factory() -> _Protocol:
            return _Protocol(loop, address, settings.command_timeout, settings.socket_timeout)

        if settings.path is not None:
            _, protocol = await loop.create_unix_connection(factory, settings.path)
        else:
            context = settings.tls() if settings.tls is not None else None
            _, protocol = await loop.create_connection(
                factory, settings.host, settings.port, ssl=context
            )
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if settings.socket_keepalive and sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return protocol

    async def _handshake(self, protocol: _Protocol) -> None:
        """AUTH, SELECT and CLIENT SETNAME, pipelined; their errors are the connect's."""
        settings = self.settings
        replies: list[asyncio.Future[Any]] = []
        if settings.password is not None:
            auth: tuple[str, ...] = (settings.password,)
            if settings.username:
                auth = (settings.username, settings.password)
            replies.append(protocol.send(_pack("AUTH", *auth)))
        if settings.db:
            replies.append(protocol.send(_pack("SELECT", settings.db)))
        if settings.client_name:
            replies.append(protocol.send(_pack("CLIENT", "SETNAME", settings.client_name)))
        try:
            for reply in replies:
                await reply
        finally:  # after the first failure, the others' outcomes are not anybody's news
            for reply in replies:
                if not reply.done():
                    reply.cancel()
                elif not reply.cancelled():
                    reply.exception()
