"""SQLite session store for tornado-sessions, on aiosqlite: one machine, one process.

Installing this distribution is enough for ``SessionOptions(store="sqlite:///sessions.db")``
(:mod:`tornado_sessions_sqlite.plugin` registers the scheme).
"""

from .store import SCHEMA_VERSION, SQLiteStore, create_script

__version__ = "0.1.0"

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "create_script"]
