"""The PostgreSQL store, :class:`PostgresStore`: one row per session, on asyncpg.

Table layout, statements and the ``CREATE TABLE`` to run yourself are in
:mod:`tornado_sessions_postgres.schema`; how fields are encoded in
:mod:`tornado_sessions_postgres.fields`.

Round trips, each a single statement (so a single implicit transaction):

==================  ==============================================================
``load``            ``SELECT`` of the live row (expired rows are filtered out)
``save``            ``INSERT ... ON CONFLICT DO UPDATE`` (an upsert)
``save_changes``    ``UPDATE`` merging the delta, if the row is live
``touch``           ``UPDATE`` of ``expires_ms`` only, if the row is live
``destroy``         ``DELETE``
==================  ==============================================================

A write whose ``expires_at`` has already passed deletes the row instead.

Expiry is kept in milliseconds (rounded down, so never later than asked) and
compared with this process's clock, passed as a parameter: a database server
whose clock disagrees with the application's neither shortens nor lengthens
sessions.  Expired rows stay in the table, never returned, until
:meth:`PostgresStore.purge_expired` deletes them in batches of ``purge_batch``
rows (one short ``DELETE`` each, ``FOR UPDATE SKIP LOCKED`` so it never waits on a
request); ``purge_interval`` runs it on a timer inside the process.

Cancellation: every call borrows a connection from the pool for one statement
and gives it back, and asyncpg resets a connection whose query was cancelled
before lending it again, so the core's timeout can cancel a call at any point.

asyncpg is imported by :meth:`PostgresStore.open`, not when this module is.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from tornado_sessions.errors import ConfigurationError, CorruptRecordError
from tornado_sessions.record import Changes, OwnedSession, Record
from tornado_sessions.stores.base import Store
from tornado_sessions.stores.purging import PeriodicPurge

from .fields import decode_fields, decode_owner, encode_fields, encode_names
from .schema import SCHEMA_VERSION, Statements, create_script
from .urls import PostgresURL, check_table_name, parse_url

__all__ = ["PostgresStore"]

logger = logging.getLogger("tornado_sessions.postgres")

#: Keys fetched per round trip by :meth:`PostgresStore.keys`.
_KEYS_PAGE = 1000


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000.0)


def _now_ms() -> int:
    return math.floor(time.time() * 1000.0)


def _owner(owner: str | None) -> bytes | None:
    return None if owner is None else owner.encode("utf-8", "surrogatepass")


def _rows(status: str) -> int:
    """The row count of a command status such as ``"UPDATE 1"``."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore(Store):
    """Sessions in a PostgreSQL table, one row per session.

    :param pool: a URL (see :mod:`tornado_sessions_postgres.urls`), or a ready
        ``asyncpg.Pool``.  A pool passed in is never closed by the store; the pool
        the store builds from a URL is made in :meth:`open` and closed by :meth:`close`.
    :param table: the table name; overrides the URL's ``table``.
    :param create_table: create the table in :meth:`open` when missing (default
        true); overrides the URL.  When false, :meth:`open` only checks it exists.
    :param purge_interval: seconds between two :meth:`purge_expired` runs in a
        background task (``0``: none, the default); overrides the URL.
    :param purge_batch: rows one purge statement deletes at most.
    :param timeout: seconds allowed to open a connection.  The core bounds every
        call (``enforces_timeout`` is false).
    """

    def __init__(
        self,
        pool: str | Any,
        *,
        table: str | None = None,
        create_table: bool | None = None,
        purge_interval: float | None = None,
        purge_batch: int | None = None,
        timeout: float | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(f"PostgresStore timeout must be positive, not {timeout!r}")
        if isinstance(pool, str):
            parsed = parse_url(pool)
            self._pool: Any = None
            self._owns_pool = True
        else:
            if not callable(getattr(pool, "acquire", None)) or not callable(
                getattr(pool, "release", None)
            ):
                raise ConfigurationError(
                    f"PostgresStore needs a URL or an asyncpg.Pool, not {type(pool).__name__}"
                )
            parsed = PostgresURL(dsn="")
            self._pool = pool
            self._owns_pool = False
        self._url = parsed
        self.table: str = check_table_name(table if table is not None else parsed.table)
        self.create_table: bool = parsed.create_table if create_table is None else create_table
        self.purge_interval: float = (
            parsed.purge_interval if purge_interval is None else float(purge_interval)
        )
        if self.purge_interval < 0:
            raise ConfigurationError("PostgresStore purge_interval must be 0 (off) or positive")
        self.purge_batch: int = parsed.purge_batch if purge_batch is None else purge_batch
        if self.purge_batch < 1:
            raise ConfigurationError("PostgresStore purge_batch must be at least 1")
        self.timeout = timeout
        self._sql = Statements.for_table(self.table)
        self._purger = PeriodicPurge(
            self.purge_expired, interval=self.purge_interval, what=str(self.table), logger=logger
        )
        self._opened = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> PostgresStore:
        """The store factory registered for ``postgresql://`` and ``postgres://``."""
        return cls(url, timeout=timeout)

    @property
    def pool(self) -> Any:
        """The ``asyncpg.Pool`` in use (``None`` before :meth:`open` for a URL)."""
        return self._pool

    def __repr__(self) -> str:
        return f"<PostgresStore table={self.table!r}>"

    def _ready(self) -> Any:
        if self._pool is None:
            raise RuntimeError("PostgresStore used before await store.open()")
        return self._pool

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        """One statement on a connection borrowed for it alone.

        If the call fails or is cancelled midway, the connection is terminated (closed
        without waiting on the server) before it goes back to the pool: a graceful
        reset would wait on a server that may not be answering, and the core's
        timeout must not wait on it.
        """
        pool = self._ready()
        conn = await pool.acquire()
        try:
            result = await getattr(conn, method)(sql, *args)
        except BaseException:
            conn.terminate()
            await asyncio.shield(pool.release(conn))
            raise
        await pool.release(conn)
        return result

    # -- lifecycle --------------------------------------------------------------

    async def open(self) -> None:
        if self._opened:
            return
        if self._pool is None:
            asyncpg = importlib.import_module("asyncpg")
            url = self._url
            self._pool = await asyncpg.create_pool(
                url.dsn,
                min_size=url.min_size,
                max_size=url.max_size,
                timeout=self.timeout if self.timeout is not None else 60.0,
            )
        if self.create_table:
            await self._run("execute", create_script(self.table))
        try:
            version = await self._run("fetchval", self._sql.version)
        except Exception as exc:
            if type(exc).__name__ != "UndefinedTableError":
                raise
            raise ConfigurationError(
                f"PostgreSQL table {self.table!r} (or {self.table}_schema) does not exist and "
                "create_table is off: create it (see tornado_sessions_postgres.schema)"
            ) from exc
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"PostgreSQL table {self.table!r} has schema version {version!r}; "
                f"this release of tornado-sessions-postgres reads version {SCHEMA_VERSION}"
            )
        self._opened = True
        if self.purge_interval > 0:
            self._purger.start()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._purger.stop()
        if self._owns_pool and self._pool is not None:
            await self._pool.close()

    # -- the contract -----------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        row = await self._run("fetchrow", self._sql.load, key, _now_ms())
        if row is None:
            return None
        meta, expires_ms, fields, owner = row
        if not isinstance(meta, bytes) or not isinstance(expires_ms, int):
            raise CorruptRecordError(f"session row {key!r} has columns of the wrong type")
        return Record(decode_fields(fields), meta, expires_ms / 1000.0, decode_owner(owner))

    async def save(self, key: str, record: Record) -> None:
        expires_ms = _ms(record.expires_at)

        if expires_ms <= _now_ms():
            await self._run("execute", self._sql.destroy, key)
            return
        await self._run(
            "execute",
            self._sql.save,
            key,
            expires_ms,
            record.meta,
            encode_fields(record.fields),
            _owner(record.owner),
        )

    async def destroy(self, key: str) -> None:
        await self._run("execute", self._sql.destroy, key)

    async def touch(self, key: str, expires_at: float) -> bool:
        status = await self._run("execute", self._sql.touch, key, _ms(expires_at), _now_ms())
        return _rows(status) > 0

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        status = await self._run(
            "execute",
            self._sql.save_changes,
            key,
            encode_names(changes.deleted),
            encode_fields(changes.updated),
            meta,
            _ms(expires_at),
            _owner(changes.owner),
            _now_ms(),
        )
        return _rows(status) > 0

    # -- optional ---------------------------------------------------------------

    async def purge_expired(self) -> int:

        now = _now_ms()
        total = 0
        while True:
            deleted = _rows(await self._run("execute", self._sql.purge, now, self.purge_batch))
            total += deleted
            if deleted < self.purge_batch:
                return total

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        rows = await self._run("fetch", self._sql.owner_sessions, _owner(owner), _now_ms())
        return [OwnedSession(key, meta, expires_ms / 1000.0) for key, meta, expires_ms in rows]

    async def clear(self) -> None:
        await self._run("execute", self._sql.clear)

    async def count(self) -> int:
        return int(await self._run("fetchval", self._sql.count, _now_ms()))

    async def keys(self) -> AsyncIterator[str]:

        after = ""
        while True:
            rows = await self._run("fetch", self._sql.keys, _now_ms(), after, _KEYS_PAGE)
            for (key,) in rows:
                yield key
            if len(rows) < _KEYS_PAGE:
                return
            after = rows[-1][0]
