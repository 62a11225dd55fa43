"""The Redis store, :class:`RedisStore`: one Redis hash per session, on one node or a cluster.

Key layout, for store key ``K`` and the default prefix::

    tornado_sessions:K          a HASH
        m                       the core's meta bytes (always present)
        f:<name>                serialized value of session key <name> (UTF-8 name)
    TTL                         the time left until record.expires_at

Session key names are stored behind ``f:``, so no name can collide with ``m``; a
hash without ``m``, or without a TTL, is not a session and loads as missing.
One key per session is what makes the store cluster-safe: every command and
script touches a single key, so a single slot.

Round trips, each a single command the server receives:

==================  ==============================================================
``load``            ``EVALSHA`` of a script doing HGETALL + PTTL (one atomic read)
``save``            ``EVALSHA``: DEL + HSET + PEXPIRE
``save_changes``    ``EVALSHA``: if EXISTS then HDEL + HSET + PEXPIRE, else nothing
``touch``           ``PEXPIRE`` (0 when the key is missing: nothing is created)
``destroy``         ``DEL``
==================  ==============================================================

A script the server does not have yet costs one extra ``EVAL`` (see
:mod:`tornado_sessions_redis.scripts`).  A write whose ``expires_at`` has already
passed is a ``DEL``.

Expiry is written as a TTL relative to this process's clock (``PEXPIRE``) and read
back the same way (``PTTL``), so a Redis server whose clock disagrees with the
application's neither shortens nor lengthens sessions.

Timeouts: with ``timeout`` set, every call is bounded by it (the store raises
:class:`TimeoutError`) and ``enforces_timeout`` is true; a client the store builds
itself also gets that timeout as its socket timeouts, so a dead connection is
dropped and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol, TypeVar

from redis.asyncio import RedisCluster

from tornado_sessions.errors import ConfigurationError
from tornado_sessions.record import Changes, Record
from tornado_sessions.stores.base import Store

from .scripts import LOAD, SAVE, SAVE_CHANGES
from .urls import DEFAULT_PREFIX, connect, parse_url

__all__ = ["META_FIELD", "VALUE_PREFIX", "RedisClient", "RedisStore"]

_T = TypeVar("_T")

#: Hash field holding the record's meta bytes.
META_FIELD = b"m"
#: Prefix of the hash field holding each session key's value.
VALUE_PREFIX = b"f:"
_VALUE_PREFIX_LEN = len(VALUE_PREFIX)

#: SCAN batch size for the administration methods.
_SCAN_COUNT = 1000


class RedisClient(Protocol):
    """What the store needs of a client: ``redis.asyncio.Redis`` and ``RedisCluster`` both fit."""

    async def execute_command(self, *args: Any, **options: Any) -> Any: ...


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
        self.timeout = timeout
        self.enforces_timeout = timeout is not None
        self.is_cluster: bool = isinstance(self._client, RedisCluster)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> RedisStore:
        """The store factory registered for the Redis URL schemes."""
        return cls(url, timeout=timeout)

    @property
    def client(self) -> Any:
        """The redis-py asyncio client in use (``Redis`` or ``RedisCluster``)."""
        return self._client

    def redis_key(self, key: str) -> bytes:
        """The Redis key holding store key ``key``."""
        return self._prefix + key.encode("utf-8")

    def __repr__(self) -> str:
        kind = "cluster" if self.is_cluster else "single node"
        return f"<RedisStore {kind} prefix={self.prefix!r} timeout={self.timeout!r}>"

    async def _bounded(self, call: Awaitable[_T]) -> _T:
        if self.timeout is None:
            return await call
        async with asyncio.timeout(self.timeout):
            return await call

    # -- the contract -----------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        reply = await self._bounded(LOAD(self._client, self.redis_key(key)))
        if not reply:
            return None
        pttl, flat = reply
        if pttl <= 0:  # -1: no TTL, so not written by this store
            return None
        meta: bytes | None = None
        fields: dict[str, bytes] = {}
        for i in range(0, len(flat), 2):
            name = flat[i]
            if name == META_FIELD:
                meta = flat[i + 1]
            elif name[:_VALUE_PREFIX_LEN] == VALUE_PREFIX:
                fields[name[_VALUE_PREFIX_LEN:].decode("utf-8", "surrogatepass")] = flat[i + 1]
        if meta is None:
            return None
        return Record(fields, meta, time.time() + pttl / 1000.0)

    async def save(self, key: str, record: Record) -> None:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(record.expires_at)
        if ttl <= 0:
            await self._bounded(self._client.execute_command("DEL", redis_key))
            return
        args: list[bytes | int] = [ttl, META_FIELD, record.meta]
        for name, value in record.fields.items():
            args.append(_field(name))
            args.append(value)
        await self._bounded(SAVE(self._client, redis_key, *args))

    async def destroy(self, key: str) -> None:
        await self._bounded(self._client.execute_command("DEL", self.redis_key(key)))

    async def touch(self, key: str, expires_at: float) -> bool:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(expires_at)
        if ttl <= 0:
            deleted = await self._bounded(self._client.execute_command("DEL", redis_key))
            return bool(deleted)
        return bool(await self._bounded(self._client.execute_command("PEXPIRE", redis_key, ttl)))

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        redis_key = self.redis_key(key)
        ttl = _ttl_ms(expires_at)
        if ttl <= 0:  # the delta would expire at once: same as deleting the record
            deleted = await self._bounded(self._client.execute_command("DEL", redis_key))
            return bool(deleted)
        args: list[bytes | int] = [ttl, len(changes.deleted)]
        args.extend(_field(name) for name in changes.deleted)
        args.append(META_FIELD)
        args.append(meta)
        for name, value in changes.updated.items():
            args.append(_field(name))
            args.append(value)
        return bool(await self._bounded(SAVE_CHANGES(self._client, redis_key, *args)))

    # -- administration ---------------------------------------------------------

    async def _scan(self) -> AsyncIterator[bytes]:
        """Every session hash under the prefix (each SCAN round trip bounded)."""
        pattern = _glob_escape(self._prefix) + b"*"
        keys = self._client.scan_iter(match=pattern, count=_SCAN_COUNT, _type="hash")
        iterator = keys.__aiter__()
        try:
            while True:
                try:
                    redis_key = await self._bounded(iterator.__anext__())
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

    async def _delete(self, keys: list[bytes]) -> None:
        # RedisCluster.unlink splits the keys by slot; a single node takes them at once.
        await self._bounded(self._client.unlink(*keys))

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


_GLOB_SPECIAL = frozenset(b"*?[]\\")


def _glob_escape(text: bytes) -> bytes:
    """Escape ``text`` for a SCAN MATCH pattern, so the prefix matches only itself."""
    out = bytearray()
    for byte in text:
        if byte in _GLOB_SPECIAL:
            out.append(0x5C)
        out.append(byte)
    return bytes(out)
