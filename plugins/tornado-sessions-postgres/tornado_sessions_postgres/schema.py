"""The sessions table, its indexes and schema version, and every statement the store runs.

For the default table name the schema is (``create_table=false`` leaves creating it
to your migrations; this is what to run)::

    CREATE TABLE tornado_sessions (
        key         text COLLATE "C" PRIMARY KEY,   -- the core's store key (ASCII)
        expires_ms  bigint NOT NULL,                -- Unix time in milliseconds
        meta        bytea  NOT NULL,                -- the core's meta bytes
        fields      jsonb  NOT NULL,                -- {hex(name): base64(value)}
        owner       bytea                           -- UTF-8 owner, or NULL
    );
    CREATE INDEX tornado_sessions_expires_idx ON tornado_sessions (expires_ms);
    CREATE INDEX tornado_sessions_owner_idx ON tornado_sessions (owner)
        WHERE owner IS NOT NULL;
    CREATE TABLE tornado_sessions_schema (version integer NOT NULL);
    INSERT INTO tornado_sessions_schema (version) VALUES (1);

``<table>_schema`` holds :data:`SCHEMA_VERSION`; a later release that changes the
layout migrates from the version it finds, and this one refuses a table whose
version it does not know.  Fields are encoded by :mod:`tornado_sessions_postgres.fields`.

Every value reaches PostgreSQL as a bound parameter.  The table name is the only
text formatted into a statement, and :func:`~tornado_sessions_postgres.urls.check_table_name`
has restricted it to letters, digits and ``_`` (it is double-quoted as well).

The two conditional writes are single ``UPDATE`` statements whose ``WHERE`` requires
the row to exist and be unexpired: PostgreSQL locks the row, and a concurrent
update of the same row re-evaluates the ``SET`` expressions on the version that
won, so two deltas to different keys both survive and a destroyed row stays gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .urls import check_table_name

__all__ = ["SCHEMA_VERSION", "Statements", "create_script"]

#: The layout this release writes.
SCHEMA_VERSION = 1


def create_script(table: str) -> str:
    """The DDL creating ``table`` when missing, idempotent and safe to run concurrently.

    One simple-query string, so PostgreSQL runs it as a single transaction; an
    advisory lock keyed on the table name serializes processes starting together.
    """
    t = check_table_name(table)
    digest = hashlib.sha256(f"tornado_sessions:{t}".encode()).digest()
    lock_key = int.from_bytes(digest[:8], "big", signed=True)
    return f"""
SELECT pg_advisory_xact_lock({lock_key:d});
CREATE TABLE IF NOT EXISTS "{t}" (
    key text COLLATE "C" PRIMARY KEY,
    expires_ms bigint NOT NULL,
    meta bytea NOT NULL,
    fields jsonb NOT NULL,
    owner bytea
);
CREATE INDEX IF NOT EXISTS "{t}_expires_idx" ON "{t}" (expires_ms);
CREATE INDEX IF NOT EXISTS "{t}_owner_idx" ON "{t}" (owner) WHERE owner IS NOT NULL;
CREATE TABLE IF NOT EXISTS "{t}_schema" (version integer NOT NULL);
INSERT INTO "{t}_schema" (version)
    SELECT {SCHEMA_VERSION:d} WHERE NOT EXISTS (SELECT 1 FROM "{t}_schema");
"""


@dataclass(frozen=True, slots=True)
class Statements:
    """The SQL of each store operation on one table (``$n`` are bound parameters)."""

    version: str
    load: str
    save: str
    touch: str
    save_changes: str
    destroy: str
    purge: str
    owner_sessions: str
    count: str
    keys: str
    clear: str

    @classmethod
    def for_table(cls, table: str) -> Statements:
        t = f'"{check_table_name(table)}"'
        return cls(
            version=f'SELECT max(version) FROM "{table}_schema"',
            load=f"SELECT meta, expires_ms, fields::text, owner FROM {t}"
            " WHERE key = $1 AND expires_ms > $2",
            save=f"INSERT INTO {t} (key, expires_ms, meta, fields, owner)"
            " VALUES ($1, $2, $3, $4::jsonb, $5)"
            " ON CONFLICT (key) DO UPDATE SET expires_ms = EXCLUDED.expires_ms,"
            " meta = EXCLUDED.meta, fields = EXCLUDED.fields, owner = EXCLUDED.owner",
            touch=f"UPDATE {t} SET expires_ms = $2 WHERE key = $1 AND expires_ms > $3",
            save_changes=f"UPDATE {t} SET fields = (fields - $2::text[]) || $3::jsonb,"
            " meta = $4, expires_ms = $5, owner = $6 WHERE key = $1 AND expires_ms > $7",
            destroy=f"DELETE FROM {t} WHERE key = $1",
            purge=f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t}"
            " WHERE expires_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            owner_sessions=f"SELECT key, meta, expires_ms FROM {t}"
            " WHERE owner = $1 AND expires_ms > $2",
            count=f"SELECT count(*) FROM {t} WHERE expires_ms > $1",
            keys=f"SELECT key FROM {t} WHERE expires_ms > $1 AND key > $2 ORDER BY key LIMIT $3",
            clear=f"DELETE FROM {t}",
        )
