"""``SQLiteStore``: sessions in a SQLite database, the SQL store of ``docs/writing-a-store.md``.

It shows, on a backend without native expiry and with a blocking driver, each
rule of the store contract a SQL store can get wrong:

- *lazy connection*: the constructor stores the path; :meth:`SQLiteStore.open`
  connects and creates the tables, in a worker thread;
- *never block the event loop*: every call runs in a worker thread
  (:func:`asyncio.to_thread`);
- *cancellation-safe*: each call is one transaction run entirely inside that
  thread (``with connection:`` commits or rolls back), under one lock.  A call
  the core cancels goes on to its end in the thread, so no transaction is ever
  left open on the shared connection between two awaits;
- *one key only*: every statement that writes names its ``key`` in a ``WHERE``;
- *expired means gone*: reads and the conditional writes (``touch``,
  ``save_changes``) filter on ``expires_at > now``, since expired rows stay in the
  table until :meth:`SQLiteStore.purge_expired` deletes them;
- *millisecond expiry*: ``expires_at`` is a ``REAL`` column (seconds as a float),
  not an ``INTEGER``;
- *exact field names*: ``TEXT`` compared with SQLite's default ``BINARY``
  collation (no ``COLLATE NOCASE``, no trimming).

Use it as an object: ``SessionOptions(store=SQLiteStore("/var/lib/app/sessions.db"))``.
One process only: SQLite locks the file across processes, but this store's
lock, which orders its own calls, does not.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from tornado_sessions.record import Changes, OwnedSession, Record
from tornado_sessions.stores.base import Store

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, meta BLOB NOT NULL, expires_at REAL NOT NULL, owner TEXT
);
CREATE INDEX IF NOT EXISTS sessions_owner ON sessions (owner) WHERE owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS fields (
    key TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, name)
);
"""

_PAGE = 500  # keys() reads this many keys per query


class SQLiteStore(Store):
    """Sessions in the SQLite database at ``path`` (``":memory:"`` for a private one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` as one transaction, in a worker thread, holding the lock."""

        def transaction() -> T:
            with self._lock:
                if self._db is None:
                    raise RuntimeError("SQLiteStore is not open (or already closed)")
                with self._db:  # commit, or roll back if work raised
                    return work(self._db)

        return await asyncio.to_thread(transaction)

    # -- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.executescript(_SCHEMA)
            db.isolation_level = "DEFERRED"  # from here on, `with db:` is a transaction
            return db

        self._db = await asyncio.to_thread(connect)

    async def close(self) -> None:
        def close() -> None:
            with self._lock:  # after any call still running in a thread
                db, self._db = self._db, None
                if db is not None:
                    db.close()

        await asyncio.to_thread(close)

    # -- required -------------------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        def load(db: sqlite3.Connection) -> Record | None:
            row = db.execute(
                "SELECT meta, expires_at, owner FROM sessions WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            ).fetchone()
            if row is None:
                return None
            fields = dict(db.execute("SELECT name, value FROM fields WHERE key = ?", (key,)))
            return Record(fields, row[0], row[1], row[2])

        return await self._run(load)

    async def save(self, key: str, record: Record) -> None:
        def save(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO sessions (key, meta, expires_at, owner) "
                "VALUES (?, ?, ?, ?)",
                (key, record.meta, record.expires_at, record.owner),
            )
            db.execute("DELETE FROM fields WHERE key = ?", (key,))
            db.executemany(
                "INSERT INTO fields (key, name, value) VALUES (?, ?, ?)",
                [(key, name, value) for name, value in record.fields.items()],
            )

        await self._run(save)

    async def destroy(self, key: str) -> None:
        def destroy(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sessions WHERE key = ?", (key,))
            db.execute("DELETE FROM fields WHERE key = ?", (key,))

        await self._run(destroy)

    # -- conditional writes: one statement checks that the record is live ------------

    async def touch(self, key: str, expires_at: float) -> bool:
        def touch(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE sessions SET expires_at = ? WHERE key = ? AND expires_at > ?",
                (expires_at, key, time.time()),
            )
            return cursor.rowcount == 1

        return await self._run(touch)

    async def save_changes(
        self, key: str, changes: Changes, meta: bytes, expires_at: float
    ) -> bool:
        def save_changes(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE sessions SET meta = ?, expires_at = ?, owner = ? "
                "WHERE key = ? AND expires_at > ?",
                (meta, expires_at, changes.owner, key, time.time()),
            )
            if cursor.rowcount != 1:
                return False  # missing or expired: write nothing
            db.executemany(
                "DELETE FROM fields WHERE key = ? AND name = ?",
                [(key, name) for name in changes.deleted],
            )
            db.executemany(
                "INSERT OR REPLACE INTO fields (key, name, value) VALUES (?, ?, ?)",
                [(key, name, value) for name, value in changes.updated.items()],
            )
            return True

        return await self._run(save_changes)

    # -- optional -------------------------------------------------------------------

    async def purge_expired(self) -> int:
        def purge(db: sqlite3.Connection) -> int:
            now = time.time()
            db.execute(
                "DELETE FROM fields WHERE key IN (SELECT key FROM sessions WHERE expires_at <= ?)",
                (now,),
            )
            return db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount

        return await self._run(purge)

    async def owner_sessions(self, owner: str) -> list[OwnedSession]:
        def owned(db: sqlite3.Connection) -> list[OwnedSession]:
            rows = db.execute(
                "SELECT key, meta, expires_at FROM sessions WHERE owner = ? AND expires_at > ?",
                (owner, time.time()),
            )
            return [OwnedSession(*row) for row in rows]

        return await self._run(owned)

    async def clear(self) -> None:
        def clear(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sessions")
            db.execute("DELETE FROM fields")

        await self._run(clear)

    async def count(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            query = "SELECT count(*) FROM sessions WHERE expires_at > ?"
            total: int = db.execute(query, (time.time(),)).fetchone()[0]
            return total

        return await self._run(count)

    async def keys(self) -> AsyncIterator[str]:
        after = ""
        while True:

            def page(db: sqlite3.Connection, after: str = after) -> list[str]:
                rows = db.execute(
                    "SELECT key FROM sessions WHERE key > ? AND expires_at > ? "
                    "ORDER BY key LIMIT ?",
                    (after, time.time(), _PAGE),
                )
                return [row[0] for row in rows]

            keys = await self._run(page)
            for key in keys:
                yield key
            if len(keys) < _PAGE:
                return
            after = keys[-1]
