"""The Redis store, :class:`RedisStore`: one Redis hash per session, on one node or a cluster.

Key layout, for store key ``K`` and the default prefix::

    tornado_sessions:K          a HASH
        m                       the core's meta bytes (always present)
        o                       the owner key (Record.owner), if the session has one
        e                       an owned session's expiry as written (Unix ms)
        f:<name>                serialized value of session key <name> (UTF-8 name)
    TTL                         the time left until record.expires_at

    tornado_sessions:owner:O    a ZSET, the owner index of owner key O
        member K, score         each session of O, scored by its expiry (Unix ms)
    TTL                         at least that of its longest-lived member

Session key names are stored behind ``f:``, so no name can collide with ``m``,
``o`` or ``e``.  One key per session is what makes the store cluster-safe: every
command and script on a session touches a single key, so a single slot.

The owner index (``owner_sessions``, for ``sessions_of``, ``end_sessions`` and
``max_sessions_per_owner``): listing is one ``ZRANGEBYSCORE`` of the owner's set
(entries whose score has passed are skipped) and one small script per member
(``OWNED``: TTL, meta, owner, expiry), so its cost is that owner's sessions, never
a scan.  Members whose hash is gone, expired or now names another owner are not
listed, and are removed from the set.  Writes drop the set's entries whose score
has passed; a score never moves down (``ZADD GT``), so it is never earlier than
its session's expiry, and the set's TTL is raised to cover every write.

- Single node: every write script (save, save_changes, touch, destroy) also
  updates the index in the same atomic step: it reads the previous owner from the
  hash, leaves that owner's set if the owner changed, and joins the new one.  The
  scripts derive the set's name from the hash (an undeclared key, which a single
  node allows).
- Redis Cluster: the set and the hash live in different slots, so no script can
  touch both.  A write of an owned session first adds it to its owner's set
  (``INDEX_ADD``), then writes the hash (whose script returns the previous owner),
  then removes it from the previous owner's set if that changed; ``touch`` reads
  the owner first (``OWNED``), ``destroy`` removes it from the set after deleting
  the hash.  Whichever step fails, the failure is raised (503 for that request) and
  the index is left with at worst an entry too many (a key whose session was not
  written, was deleted, or moved to another owner), which listing filters out and
  removes.  A live owned session is never missing from its owner's set, so
  ``end_sessions`` cannot miss it.  One race remains: two requests that give the
  *same* session different owners at the same moment may leave it out of the
  final owner's set until that session's next write (the core writes a session
  at most once per request, and logins regenerate the id, so this needs two
  concurrent logins as different users on one session id).

What ``load`` finds is checked before it becomes a :class:`Record`, and anything
this store could not have written raises
:class:`~tornado_sessions.errors.CorruptRecordError` (the core then deletes the
key, logs it and starts a fresh session): a key of another type (string, list,
set...), a hash without ``m``, without a TTL or with a TTL beyond
:data:`~tornado_sessions.meta.MAX_LIFETIME`, meta longer than
:data:`~tornado_sessions.meta.MAX_META_BYTES`, a field name that is not UTF-8.
Fields that are neither ``m`` nor ``f:...`` are ignored (a later version may add
some).  Nothing is allocated from a number the store returned.

Round trips, each a single command the server receives:

==================  ==============================================================
``load``            ``EVALSHA`` of a script doing HGETALL + PTTL (one atomic read)
``save``            ``EVALSHA``: DEL + HSET + PEXPIRE (+ the owner index)
``save_changes``    ``EVALSHA``: if EXISTS then HDEL + HSET + PEXPIRE, else nothing
``touch``           ``EVALSHA``: PEXPIRE (0 when the key is missing: nothing is
                    created; an owned session's index score moves too)
``destroy``         ``EVALSHA``: DEL (and ZREM from the owner's index)
``owner_sessions``  ``ZRANGEBYSCORE`` + one ``EVALSHA`` per listed session
==================  ==============================================================

On a cluster, a write of an owned session adds one command before (the index)
and, when the owner changed, one after (leaving the old owner's index); ``touch``
adds one before (reading the owner); ``destroy`` of an owned session one after.

A script the server does not have yet costs one extra ``EVAL`` (see
:mod:`tornado_sessions_redis.scripts`).  A write whose ``expires_at`` has already
passed is a ``DEL``.

Expiry is written as a TTL relative to this process's clock (``PEXPIRE``) and read
back the same way (``PTTL``), so a Redis server whose clock disagrees with the
application's neither shortens nor lengthens sessions.

Clients: a URL for a single node builds the plugin's own
:class:`~tornado_sessions_redis.multiplexed.MultiplexedClient` (one connection,
every concurrent command pipelined on it; ``?client=redis-py`` builds redis-py's
pooled client instead, see :mod:`tornado_sessions_redis.urls`); a cluster URL
builds ``redis.asyncio.RedisCluster``; a client passed in is used as it is.  The
store talks to any of them through ``execute_command`` (scripts are ``EVALSHA``
and ``EVAL`` commands), ``scan_iter``, ``unlink``, ``ping`` and ``aclose``.

Timeouts: with ``timeout`` set, every call is bounded by it (the store raises
:class:`TimeoutError`) and ``enforces_timeout`` is true.  The store's own client
bounds each command itself (one timer per connection rather than an
``asyncio.timeout`` per call, which costs about as much CPU as the rest of a
load); calls on any other client are bounded by one timer for all of them
(:class:`~tornado_sessions.stores.timeouts.SharedTimeout`).  A script the server
has lost (``NOSCRIPT``, then ``EVAL``) is two commands, each so bounded.  A client
the store builds itself also gets the timeout as its socket timeouts, so a dead
connection is dropped and the next call reconnects.

Failures: every error of a call is re-raised as :class:`RedisStoreError` (or
:class:`RedisUnavailableError`, or :class:`TimeoutError`), whose message names the
node (the cluster node serving the key), the operation and the cause (``connection
refused``...), with the client's exception chained.  Both clients raise
:mod:`redis.exceptions` classes, so this is one path; redis-py's own texts do not
always say where or what (``Connection closed by server.``).

Cancellation: every method may be cancelled at any ``await`` (the core does it on
``store_timeout``).  No reply is ever read by the wrong caller: the store's own
client reads and drops the reply of a cancelled command (replies come in order),
and redis-py drops a connection whose command was interrupted; the tests cancel
each operation at each of its suspension points and check the store still
answers correctly.

:meth:`RedisStore.open` connects (and, on a cluster, discovers the topology and
connects to every master) before the first request, so that a burst of
concurrent first requests does not race redis-py's cluster initialisation.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol, TypeVar

import redis.exceptions
from redis.asyncio import RedisCluster

from tornado_sessions.errors import ConfigurationError, CorruptRecordError
from tornado_sessions.meta import MAX_LIFETIME, MAX_META_BYTES
from tornado_sessions.record import Changes, OwnedSession, Record
from tornado_sessions.stores.base import Store
from tornado_sessions.stores.timeouts import SharedTimeout

from .multiplexed import ConnectionSettings, MultiplexedClient
from .scripts import (
    DESTROY,
    INDEX_ADD,
    LOAD,
    OWNED,
    SAVE,
    SAVE_CHANGES,
    TOUCH,
    WRONG_TYPE,
)
from .urls import DEFAULT_PREFIX, connect, parse_url

__all__ = [
    "EXPIRY_FIELD",
    "META_FIELD",
    "OWNER_FIELD",
    "OWNER_INDEX",
    "VALUE_PREFIX",
    "RedisClient",
    "RedisStore",
    "RedisStoreError",
    "RedisUnavailableError",
]

_T = TypeVar("_T")

#: Hash field holding the record's meta bytes.
META_FIELD = b"m"
#: Hash field holding the session's owner key (absent: no owner).
OWNER_FIELD = b"o"
#: Hash field holding an owned session's expiry as written (Unix ms), for listing.
EXPIRY_FIELD = b"e"
#: What follows the prefix in the name of an owner's index (a sorted set).
OWNER_INDEX = b"owner:"
#: Prefix of the hash field holding each session key's value.
VALUE_PREFIX = b"f:"
_VALUE_PREFIX_LEN = len(VALUE_PREFIX)

#: SCAN batch size for the administration methods.
_SCAN_COUNT = 1000

#: The longest TTL a record of this store can have: the core's longest lifetime,
#: plus a day for the clocks of the processes that wrote it.
_MAX_TTL_MS = int((MAX_LIFETIME + 86400.0) * 1000)


class RedisStoreError(redis.exceptions.RedisError):
    """A Redis call failed; the message names the node, the operation and the cause.

    redis-py's exception is chained as ``__cause__``.
    """


class RedisUnavailableError(RedisStoreError, redis.exceptions.ConnectionError):
    """The Redis node could not be reached, or dropped the connection."""


#: Failures that mean the node is out of reach (AttributeError: redis-py writing to a
#: connection the peer already closed, redis/redis-py#4287).
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,  # RedisClusterUnreachableError (redis-py 8.2)
    redis.exceptions.TryAgainError,
    OSError,
    AttributeError,
)


def describe(exc: BaseException) -> str:
    """What went wrong, in words: the OS's reason if there is one, then the driver's text."""
    reason = ""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            reason = os.strerror(current.errno).lower()
            break
        current = current.__cause__ or current.__context__
    text = str(exc).strip()
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{reason} ({detail})" if reason else detail


class RedisClient(Protocol):
    """What the store needs of a client: ``redis.asyncio.Redis``, ``RedisCluster`` and
    :class:`~tornado_sessions_redis.multiplexed.MultiplexedClient` all fit."""

    def execute_command(self, *args: Any, **options: Any) -> Awaitable[Any]: ...


def _field(name: str) -> bytes:
    return VALUE_PREFIX + name.encode("utf-8", "surrogatepass")


def _ttl_ms(expires_at: float) -> int:
    """Milliseconds from now until ``expires_at``, rounded up; <= 0 means already expired."""
    return math.ceil((expires_at - time.time()) * 1000.0)


def _decode_flag(client: Any) -> bool:
    get_encoder = getattr(client, "get_encoder", None)
    if get_encoder is None:
        return False
    return bool(getattr(get_encoder(), "decode_responses", False))


class RedisStore(Store):
    """Sessions in Redis, one hash per session; single node or Redis Cluster.

    :param client: a URL (see :mod:`tornado_sessions_redis.urls`), or a ready
        ``redis.asyncio.Redis`` / ``redis.asyncio.RedisCluster`` client made with
        ``decode_responses=False`` (the default).  A client passed in is never closed
        by the store; a client the store built from a URL is closed by :meth:`close`.
    :param prefix: prepended to every store key; overrides the URL's ``prefix``
        option.  Default ``"tornado_sessions:"``.  Avoid ``{...}`` in it on a cluster:
        a hash tag would put every session in one slot.
    :param timeout: seconds; bounds every call (see the module docstring).  ``None``
        leaves timeouts to the core (``enforces_timeout`` is then false).
    :param cluster: with a URL, force Redis Cluster on or off (overrides the URL).
    """

    def __init__(
        self,
        client: str | RedisClient,
        *,
        prefix: str | None = None,
        timeout: float | None = None,
        cluster: bool | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(f"RedisStore timeout must be positive, not {timeout!r}")
        url_prefix: str | None = None
        if isinstance(client, str):
            parsed = parse_url(client, cluster=cluster)
            url_prefix = parsed.prefix
            self._client: Any = connect(parsed, timeout)
            self._owns_client = True
        else:
            if cluster is not None:
                raise ConfigurationError(
                    "RedisStore(cluster=...) applies to URLs; pass a RedisCluster client instead"
                )
            if not callable(getattr(client, "execute_command", None)):
                raise ConfigurationError(
                    f"RedisStore needs a URL or a redis.asyncio client, not {type(client).__name__}"
                )
            if _decode_flag(client):
                raise ConfigurationError(
                    "RedisStore needs a client made with decode_responses=False: "
                    "session values are bytes"
                )
            self._client = client
            self._owns_client = False
        chosen = prefix if prefix is not None else url_prefix
        self.prefix: str = DEFAULT_PREFIX if chosen is None else chosen
        self._prefix = self.prefix.encode("utf-8")
        self._index_prefix = self._prefix + OWNER_INDEX
        self.timeout = timeout
        self.enforces_timeout = timeout is not None
        self.is_cluster: bool = isinstance(self._client, RedisCluster)
        self.address: str = parsed.address if isinstance(client, str) else _address(self._client)
        #: The store's own client bounds each command by ``timeout`` itself (see
        #: :mod:`tornado_sessions_redis.multiplexed`); for any other client (redis-py,
        #: a cluster) every call is bounded here, with one timer for all of them.
        self._shared_timeout = (
            SharedTimeout(timeout)
            if timeout is not None and not _bounds_commands(self._client, timeout)
            else None
        )
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> RedisStore:
        """The store factory registered for the Redis URL schemes."""
        return cls(url, timeout=timeout)

    @property
    def client(self) -> Any:
        """The client in use: the one passed in, or the one built from the URL (a
        :class:`~tornado_sessions_redis.multiplexed.MultiplexedClient` for a single
        node, unless the URL asks for redis-py; a ``RedisCluster`` for a cluster)."""
        return self._client

    def redis_key(self, key: str) -> bytes:
        """The Redis key holding store key ``key``."""
        return self._prefix + key.encode("utf-8")

    def owner_index_key(self, owner: str) -> bytes:
        """The Redis key of ``owner``'s index: a sorted set of store keys scored by expiry."""
        return self._index_prefix + owner.encode("utf-8", "surrogatepass")

    def _index_arg(self) -> bytes:
        """What the write scripts get as the index prefix: empty on a cluster (see module doc)."""
        return b"" if self.is_cluster else self._index_prefix

    def _head(self, key: str, ttl: int, owner: str | None, expires_at: float) -> list[bytes | int]:
        """The arguments every write script starts with (see :mod:`.scripts`)."""
        return [
            ttl,
            self._index_arg(),
            b"" if owner is None else owner.encode("utf-8", "surrogatepass"),
            math.ceil(expires_at * 1000.0),
            math.floor(time.time() * 1000.0),
            key.encode("utf-8"),
        ]

    async def _index_add(self, operation: str, key: str, owner: str, expires_at: float) -> None:
        """Cluster: put ``key`` in ``owner``'s index *before* the session write."""
        index = self.owner_index_key(owner)
        ttl = _ttl_ms(expires_at)
        score = math.ceil(expires_at * 1000.0)
        now = math.floor(time.time() * 1000.0)
        added = INDEX_ADD(self._client, index, key.encode("utf-8"), score, ttl, now)
        await self._call(operation, index, added)

    async def _index_leave(self, operation: str, key: str, old: Any, new: str | None) -> None:
        """Cluster: take ``key`` out of its previous owner's index after a write."""
        if type(old) is not bytes:
            return
        if new is not None and old == new.encode("utf-8", "surrogatepass"):
            return
        index = self._index_prefix + old
        removed = self._client.execute_command("ZREM", index, key.encode("utf-8"))
        await self._call(operation, index, removed)

    def __repr__(self) -> str:
        kind = "cluster" if self.is_cluster else "single node"
        return (
            f"<RedisStore {kind} {self.address} prefix={self.prefix!r} timeout={self.timeout!r}>"
        )

    def _node(self, redis_key: bytes | None) -> str:
        """Where a call on ``redis_key`` goes: the cluster node serving it, or the server."""
        if redis_key is not None and self.is_cluster:
            try:
                node = self._client.get_node_from_key(redis_key)
            except Exception:  # topology unknown yet: name the node we start from
                node = None
            if node is not None:
                return f"{node.host}:{node.port}"
        return self.address

    async def _call(self, operation: str, redis_key: bytes | None, call: Awaitable[_T]) -> _T:
        """Await one call, bounded by the timeout; every failure says where and why."""
        try:
            if self._shared_timeout is None:
                return await call
            return await self._shared_timeout.run(call)
        except (CorruptRecordError, ConfigurationError, StopAsyncIteration):
            raise
        except TimeoutError as exc:  # the store's own bound
            raise TimeoutError(
                f"Redis {self._node(redis_key)}: {operation} got no answer within "
                f"{self.timeout}s"
            ) from exc
        except redis.exceptions.TimeoutError as exc:  # a socket timeout
            raise TimeoutError(
                f"Redis {self._node(redis_key)}: {operation} timed out ({describe(exc)})"
            ) from exc
        except Exception as exc:
            where = self._node(redis_key)
            kind = RedisUnavailableError if isinstance(exc, _UNAVAILABLE) else RedisStoreError
            raise kind(f"Redis {where}: {operation} failed: {describe(exc)}") from exc

    # -- opening ----------------------------------------------------------------

    async def open(self) -> None:
        """Connect before the first request, so a mistake or an outage shows at start-up.

        On a single node: one ``PING``.  On a cluster: discover the topology, then
        ``PING`` every master, so each has a pooled connection before concurrent
        requests arrive.  A failure names the node and the cause.
        """
        await self._call("open", None, self._open())

    async def _open(self) -> None:
        client = self._client
        if self.is_cluster:
            await client.initialize()
            await client.ping(target_nodes=RedisCluster.PRIMARIES)
        else:
            await client.ping()

    # -- the contract -----------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        redis_key = self.redis_key(key)
        reply = await self._call("load", redis_key, LOAD(self._client, redis_key))
        if not reply:
            return None
        return _record(reply)

    async def save(self, key: str, record: Record) -> None:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(record.expires_at)
        if ttl <= 0:
            await self._destroy("save", key)
            return
        if self.is_cluster and record.owner is not None:
            await self._index_add("save", key, record.owner, record.expires_at)
        args = self._head(key, ttl, record.owner, record.expires_at)
        args.append(META_FIELD)
        args.append(record.meta)
        if record.owner is not None:
            args.append(OWNER_FIELD)
            args.append(record.owner.encode("utf-8", "surrogatepass"))
        for name, value in record.fields.items():
            args.append(_field(name))
            args.append(value)
        old = await self._call("save", redis_key, SAVE(self._client, redis_key, *args))
        if self.is_cluster:
            await self._index_leave("save", key, old, record.owner)

    async def destroy(self, key: str) -> None:
        await self._destroy("destroy", key)

    async def _destroy(self, operation: str, key: str) -> bool:
        """Delete the record and take it out of its owner's index; whether it existed."""
        redis_key = self.redis_key(key)
        reply = await self._call(
            operation,
            redis_key,
            DESTROY(self._client, redis_key, self._index_arg(), key.encode("utf-8")),
        )
        deleted, owner = _pair(reply)
        if self.is_cluster:
            await self._index_leave(operation, key, owner, None)
        return bool(deleted)

    async def touch(self, key: str, expires_at: float) -> bool:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(expires_at)
        if ttl <= 0:
            return await self._destroy("touch", key)
        if not self.is_cluster:
            args = self._head(key, ttl, None, expires_at)
            touched = TOUCH(self._client, redis_key, *args)
            return bool(await self._call("touch", redis_key, touched))
        # Cluster: the index first (it may then list a key that is gone: listing drops it).
        reply = await self._call("touch", redis_key, OWNED(self._client, redis_key))
        owner = reply[2] if type(reply) is list and len(reply) == 4 else None
        if type(owner) is bytes:
            # An owner that is not UTF-8 is not one this store wrote: load reports it.
            with contextlib.suppress(UnicodeDecodeError):
                await self._index_add(
                    "touch", key, owner.decode("utf-8", "surrogatepass"), expires_at
                )
        args = self._head(key, ttl, None, expires_at)
        return bool(await self._call("touch", redis_key, TOUCH(self._client, redis_key, *args)))

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(expires_at)
        if ttl <= 0:  # the delta would expire at once: same as deleting the record
            return await self._destroy("save_changes", key)
        owner = changes.owner
        if self.is_cluster and owner is not None:
            await self._index_add("save_changes", key, owner, expires_at)
        args = self._head(key, ttl, owner, expires_at)
        deleted = [_field(name) for name in changes.deleted]
        if owner is None:
            deleted.append(OWNER_FIELD)
            deleted.append(EXPIRY_FIELD)
        args.append(len(deleted))
        args.extend(deleted)
        args.append(META_FIELD)
        args.append(meta)
        if owner is not None:
            args.append(OWNER_FIELD)
            args.append(owner.encode("utf-8", "surrogatepass"))
        for name, value in changes.updated.items():
            args.append(_field(name))
            args.append(value)
        written = SAVE_CHANGES(self._client, redis_key, *args)
        reply = await self._call("save_changes", redis_key, written)
        done, old = _pair(reply)
        if done and self.is_cluster:
            await self._index_leave("save_changes", key, old, owner)
        return bool(done)

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        """The live sessions of ``owner``: one read of its index, then one per member.

        Members whose record is gone, expired or now has another owner (left behind
        by a cluster write that failed midway, or by a destroy that did not reach the
        index) are not listed and are removed from the index.
        """
        index = self.owner_index_key(owner)
        now_ms = math.floor(time.time() * 1000.0)
        members = await self._call(
            "owner_sessions",
            index,
            self._client.execute_command("ZRANGEBYSCORE", index, now_ms, "+inf"),
        )
        keys: list[str] = []
        for member in members or ():
            try:
                keys.append(member.decode("utf-8"))
            except (AttributeError, UnicodeDecodeError):
                continue
        replies = await asyncio.gather(*(self._owned(key) for key in keys))
        wanted = owner.encode("utf-8", "surrogatepass")
        found: list[OwnedSession] = []
        stale: list[bytes] = []
        for key, reply in zip(keys, replies, strict=True):
            entry = _owned(key, reply, wanted)
            if entry is None:
                stale.append(key.encode("utf-8"))
            else:
                found.append(entry)
        if stale:
            removed = self._client.execute_command("ZREM", index, *stale)
            await self._call("owner_sessions", index, removed)
        return found

    async def _owned(self, key: str) -> Any:
        """One member's OWNED reply.  The script call is made here, not by the caller,
        so that a cancellation before this coroutine starts leaves no call unawaited."""
        redis_key = self.redis_key(key)
        return await self._call("owner_sessions", redis_key, OWNED(self._client, redis_key))

    # -- administration ---------------------------------------------------------

    async def _scan(self, under: bytes | None = None, kind: str = "hash") -> AsyncIterator[bytes]:
        """Every session hash under the prefix (each SCAN round trip bounded).

        With ``under`` and ``kind``: every key of that type under that prefix instead.
        """
        pattern = _glob_escape(self._prefix if under is None else under) + b"*"
        keys = self._client.scan_iter(match=pattern, count=_SCAN_COUNT, _type=kind)
        iterator = keys.__aiter__()
        try:
            while True:
                try:
                    redis_key = await self._call("scan", None, iterator.__anext__())
                except StopAsyncIteration:
                    return
                yield redis_key
        finally:  # the caller may stop early: end redis-py's generator here, not at GC
            await iterator.aclose()

    async def clear(self) -> None:
        batch: list[bytes] = []
        async for redis_key in self._scan():
            batch.append(redis_key)
            if len(batch) >= _SCAN_COUNT:
                await self._delete(batch)
                batch = []
        if batch:
            await self._delete(batch)
        batch = []
        async for redis_key in self._scan(self._index_prefix, "zset"):
            batch.append(redis_key)
            if len(batch) >= _SCAN_COUNT:
                await self._delete(batch)
                batch = []
        if batch:
            await self._delete(batch)

    async def _delete(self, keys: list[bytes]) -> None:
        # RedisCluster.unlink splits the keys by slot; a single node takes them at once.
        await self._call("clear", None, self._client.unlink(*keys))

    async def count(self) -> int:
        total = 0
        async for _ in self._scan():
            total += 1
        return total

    async def keys(self) -> AsyncIterator[str]:
        start = len(self._prefix)
        async for redis_key in self._scan():
            try:
                yield redis_key[start:].decode("utf-8")
            except UnicodeDecodeError:  # not a key this store wrote
                continue

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()


def _corrupt(reason: str) -> CorruptRecordError:
    return CorruptRecordError(f"Redis key {reason}")


def _record(reply: Any) -> Record | None:
    """The record a LOAD reply describes; ``None`` if expired; corrupt if it is not one.

    Every element is checked for its type before use: nothing of the reply is
    trusted, and no size is taken from it.
    """
    if type(reply) is not list or len(reply) != 2:
        raise _corrupt(f"gave an unexpected reply of type {type(reply).__name__}")
    pttl, flat = reply
    if pttl == WRONG_TYPE:
        kind = flat.decode("ascii", "replace") if type(flat) is bytes else "?"
        raise _corrupt(f"holds a {kind[:20]}, not a hash")
    if type(pttl) is not int or type(flat) is not list or len(flat) % 2:
        raise _corrupt("gave a malformed reply")
    if pttl == -1:
        raise _corrupt("has no expiry (not written by this store)")
    if pttl <= 0:  # expired in the meantime
        return None
    if pttl > _MAX_TTL_MS:
        raise _corrupt(f"expires in {pttl} ms, beyond the longest session lifetime")
    meta: bytes | None = None
    owner: str | None = None
    fields: dict[str, bytes] = {}
    names = _NAMES
    pairs = iter(flat)
    for name, value in zip(pairs, pairs, strict=False):  # pairs: the length is even
        if type(name) is not bytes or type(value) is not bytes:
            raise _corrupt("holds a field that is not a string")
        known = names.get(name)  # only ever holds f:<name> fields
        if known is not None:
            fields[known] = value
        elif name == META_FIELD:
            if len(value) > MAX_META_BYTES:
                raise _corrupt(f"holds {len(value)} bytes of meta (at most {MAX_META_BYTES})")
            meta = value
        elif name == OWNER_FIELD:
            try:
                owner = value.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise _corrupt("holds an owner that is not UTF-8") from None
        elif name[:_VALUE_PREFIX_LEN] == VALUE_PREFIX:
            fields[_session_key(name)] = value
    if meta is None:
        raise _corrupt("is a hash without the meta field (not written by this store)")
    return Record(fields, meta, time.time() + pttl / 1000.0, owner)


#: Session key names already decoded, by hash field (``f:<name>`` -> ``<name>``): the
#: loads of an application read the same few names over and over, and a look-up costs
#: less than slicing and decoding each (about 1 µs of a load of 8 keys).  Bounded: once
#: it holds :data:`_NAMES_KEPT` names, further names are decoded at each load.
_NAMES: dict[bytes, str] = {}
_NAMES_KEPT = 4096


def _session_key(field: bytes) -> str:
    """The session key a ``f:<name>`` hash field holds; corrupt if it is not UTF-8."""
    try:
        name = field[_VALUE_PREFIX_LEN:].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise _corrupt("holds a field name that is not UTF-8") from None
    if len(_NAMES) < _NAMES_KEPT:
        _NAMES[field] = name
    return name


def _pair(reply: Any) -> tuple[Any, Any]:
    """A ``{done, owner}`` script reply (``0`` alone when nothing was written)."""
    if type(reply) is list and len(reply) == 2:
        return reply[0], reply[1]
    if type(reply) is list and len(reply) == 1:  # the owner was nil
        return reply[0], None
    return reply, None


def _owned(key: str, reply: Any, owner: bytes) -> OwnedSession | None:
    """The listing entry an OWNED reply describes, or ``None`` if it is not a live session
    of ``owner`` (gone, expired, another owner's, or not a record this store wrote)."""
    if type(reply) is not list or len(reply) != 4:
        return None
    pttl, meta, holder, expiry = reply
    if type(pttl) is not int or not 0 < pttl <= _MAX_TTL_MS:
        return None
    if type(meta) is not bytes or len(meta) > MAX_META_BYTES or holder != owner:
        return None
    expires_at = time.time() + pttl / 1000.0
    if type(expiry) is bytes and expiry.isdigit() and len(expiry) < 16:
        expires_at = min(expires_at + 1.0, int(expiry) / 1000.0)  # as written, never much later
    return OwnedSession(key, meta, expires_at)


def _bounds_commands(client: Any, timeout: float) -> bool:
    """Whether ``client`` ends every command that takes longer than ``timeout`` itself."""
    if not isinstance(client, MultiplexedClient):
        return False
    bound = client.settings.command_timeout
    return bound is not None and bound <= timeout


def _address(client: Any) -> str:
    """``host:port`` (or the socket path) of a client passed in, without credentials."""
    settings = getattr(client, "settings", None)
    if isinstance(settings, ConnectionSettings):
        return settings.address
    if isinstance(client, RedisCluster):
        nodes = getattr(getattr(client, "nodes_manager", None), "startup_nodes", None) or {}
        names = list(nodes)
        return names[0] if names else "cluster"
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


_GLOB_SPECIAL = frozenset(b"*?[]\\")


def _glob_escape(text: bytes) -> bytes:
    """Escape ``text`` for a SCAN MATCH pattern, so the prefix matches only itself."""
    out = bytearray()
    for byte in text:
        if byte in _GLOB_SPECIAL:
            out.append(0x5C)
        out.append(byte)
    return bytes(out)
