"""The SQLite store, :class:`SQLiteStore`: one row per session in a file, for one machine.

Table (``create_table=false`` leaves creating it to you; this is what to run)::

    CREATE TABLE tornado_sessions (
        key         TEXT PRIMARY KEY,      -- the core's store key (ASCII), BINARY collation
        expires_ms  INTEGER NOT NULL,      -- Unix time in milliseconds
        meta        BLOB NOT NULL,         -- the core's meta bytes
        fields      TEXT NOT NULL,         -- JSON {hex(UTF-8 name): base64(value)}
        owner       BLOB                   -- UTF-8 owner, or NULL
    );
    CREATE INDEX tornado_sessions_expires_idx ON tornado_sessions (expires_ms);
    CREATE INDEX tornado_sessions_owner_idx ON tornado_sessions (owner)
        WHERE owner IS NOT NULL;
    CREATE TABLE tornado_sessions_schema (version INTEGER NOT NULL);
    INSERT INTO tornado_sessions_schema (version) VALUES (1);

The database runs in WAL mode, on one aiosqlite connection (a thread of its own),
in autocommit: every operation is one statement, so one implicit transaction, and
the store never opens a transaction across two awaits.  That is what makes it safe
to cancel: a call the core's timeout cancels still finishes its statement in the
connection's thread, and nothing is left open.  The DDL runs as one
``executescript`` (``BEGIN`` ... ``COMMIT``) inside that thread.

One process: SQLite locks the whole file for writes.  Several processes on one
machine work (WAL, a busy timeout) but serialize their writes; for more than one
process, use the PostgreSQL or Redis store.

Conditional writes are single ``UPDATE``s whose ``WHERE`` requires the row to be
live; a delta is a JSON merge patch applied by ``json_patch``.  Expiry is kept in
milliseconds (rounded down) and compared with this process's clock; expired rows
are never returned and :meth:`SQLiteStore.purge_expired` deletes them in batches.

aiosqlite is imported by :meth:`SQLiteStore.open`, not when this module is.
"""

from __future__ import annotations

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

from .fields import decode_fields, decode_owner, encode_fields, encode_patch
from .urls import check_table_name, parse_url

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "create_script"]

logger = logging.getLogger("tornado_sessions.sqlite")

#: The layout this release writes.
SCHEMA_VERSION = 1
_KEYS_PAGE = 1000


def create_script(table: str) -> str:
    """The DDL creating ``table`` when missing, as one transaction."""
    t = check_table_name(table)
    return f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS "{t}" (
    key TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL,
    meta BLOB NOT NULL,
    fields TEXT NOT NULL,
    owner BLOB
);
CREATE INDEX IF NOT EXISTS "{t}_expires_idx" ON "{t}" (expires_ms);
CREATE INDEX IF NOT EXISTS "{t}_owner_idx" ON "{t}" (owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS "{t}_schema" (version INTEGER NOT NULL);
INSERT INTO "{t}_schema" (version)
    SELECT {SCHEMA_VERSION:d} WHERE NOT EXISTS (SELECT 1 FROM "{t}_schema");
COMMIT;
"""


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000.0)


def _now_ms() -> int:
    return math.floor(time.time() * 1000.0)


def _owner(owner: str | None) -> bytes | None:
    return None if owner is None else owner.encode("utf-8", "surrogatepass")


class SQLiteStore(Store):
    """Sessions in a SQLite file, one row per session.

    :param url: ``sqlite:///path`` (see :mod:`tornado_sessions_sqlite.urls`).
    :param timeout: seconds SQLite waits for a lock held by another process.
    """

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        if not isinstance(url, str):
            raise ConfigurationError(
                f"SQLiteStore needs a sqlite:/// URL, not {type(url).__name__}"
            )
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(f"SQLiteStore timeout must be positive, not {timeout!r}")
        parsed = parse_url(url)
        self.path = parsed.path
        self.table = parsed.table
        self.create_table = parsed.create_table
        self.purge_interval = parsed.purge_interval
        self.purge_batch = parsed.purge_batch
        self.timeout = timeout
        t = f'"{self.table}"'
        self._load = (
            f"SELECT meta, expires_ms, fields, owner FROM {t} WHERE key = ? AND expires_ms > ?"
        )
        self._save = (
            f"INSERT INTO {t} (key, expires_ms, meta, fields, owner) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms,"
            " meta = excluded.meta, fields = excluded.fields, owner = excluded.owner"
        )
        self._touch = f"UPDATE {t} SET expires_ms = ? WHERE key = ? AND expires_ms > ?"
        self._save_changes = (
            f"UPDATE {t} SET fields = json_patch(fields, ?), meta = ?, expires_ms = ?, owner = ?"
            " WHERE key = ? AND expires_ms > ?"
        )
        self._destroy = f"DELETE FROM {t} WHERE key = ?"
        self._purge = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_ms <= ? LIMIT ?)"
        )
        self._owner_sessions = (
            f"SELECT key, meta, expires_ms FROM {t} WHERE owner = ? AND expires_ms > ?"
        )
        self._count = f"SELECT count(*) FROM {t} WHERE expires_ms > ?"
        self._keys = f"SELECT key FROM {t} WHERE expires_ms > ? AND key > ? ORDER BY key LIMIT ?"
        self._clear = f"DELETE FROM {t}"
        self._version = f'SELECT max(version) FROM "{self.table}_schema"'
        self._conn: Any = None
        self._purger = PeriodicPurge(
            self.purge_expired, interval=self.purge_interval, what=str(self.path), logger=logger
        )
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> SQLiteStore:
        """The store factory registered for ``sqlite://``."""
        return cls(url, timeout=timeout)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path!r} table={self.table!r}>"

    @property
    def connection(self) -> Any:
        """The ``aiosqlite.Connection`` (``None`` before :meth:`open`)."""
        return self._conn

    def _ready(self) -> Any:
        if self._conn is None:
            raise RuntimeError("SQLiteStore used before await store.open()")
        return self._conn

    async def _execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return how many rows it changed."""
        async with self._ready().execute(sql, args) as cursor:
            return int(cursor.rowcount)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._ready().execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    # -- lifecycle --------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        aiosqlite = importlib.import_module("aiosqlite")
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn = conn
        busy_ms = _ms(self.timeout if self.timeout is not None else 5.0)
        await conn.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        if self.create_table:
            await conn.executescript(create_script(self.table))
        try:
            rows = await self._fetch(self._version)
        except Exception as exc:
            if "no such table" not in str(exc):
                raise
            raise ConfigurationError(
                f"SQLite table {self.table!r} (or {self.table}_schema) does not exist and "
                "create_table is off: create it (see tornado_sessions_sqlite.store)"
            ) from exc
        version = rows[0][0]
        if version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"SQLite table {self.table!r} has schema version {version!r}; "
                f"this release of tornado-sessions-sqlite reads version {SCHEMA_VERSION}"
            )
        if self.purge_interval > 0:
            self._purger.start()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._purger.stop()
        if self._conn is not None:
            await self._conn.close()

    # -- the contract -----------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        rows = await self._fetch(self._load, key, _now_ms())
        if not rows:
            return None
        meta, expires_ms, fields, owner = rows[0]
        if not isinstance(meta, bytes) or not isinstance(expires_ms, int):
            raise CorruptRecordError(f"session row {key!r} has columns of the wrong type")
        return Record(decode_fields(fields), meta, expires_ms / 1000.0, decode_owner(owner))

    async def save(self, key: str, record: Record) -> None:
        expires_ms = _ms(record.expires_at)
        if expires_ms <= _now_ms():
            await self._execute(self._destroy, key)
            return
        await self._execute(
            self._save, key, expires_ms, record.meta, encode_fields(record.fields),
            _owner(record.owner),
        )  # fmt: skip

    async def destroy(self, key: str) -> None:
        await self._execute(self._destroy, key)

    async def touch(self, key: str, expires_at: float) -> bool:
        return await self._execute(self._touch, _ms(expires_at), key, _now_ms()) > 0

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        patch = encode_patch(changes.updated, changes.deleted)
        changed = await self._execute(
            self._save_changes, patch, meta, _ms(expires_at), _owner(changes.owner),
            key, _now_ms(),
        )  # fmt: skip
        return changed > 0

    # -- optional ---------------------------------------------------------------

    async def purge_expired(self) -> int:
        now = _now_ms()
        total = 0
        while True:
            deleted = await self._execute(self._purge, now, self.purge_batch)
            total += deleted
            if deleted < self.purge_batch:
                return total

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        rows = await self._fetch(self._owner_sessions, _owner(owner), _now_ms())
        return [OwnedSession(key, meta, expires_ms / 1000.0) for key, meta, expires_ms in rows]

    async def clear(self) -> None:
        await self._execute(self._clear)

    async def count(self) -> int:
        return int((await self._fetch(self._count, _now_ms()))[0][0])

    async def keys(self) -> AsyncIterator[str]:
        after = ""
        while True:
            rows = await self._fetch(self._keys, _now_ms(), after, _KEYS_PAGE)
            for (key,) in rows:
                yield key
            if len(rows) < _KEYS_PAGE:
                return
            after = rows[-1][0]
