"""PostgreSQL session store for tornado-sessions, on asyncpg.

Installing this distribution is enough for
``SessionOptions(store="postgresql://user@host/db")``: the store registers itself
through the ``tornado_sessions`` entry points (:mod:`tornado_sessions_postgres.plugin`).
Build one by hand with :class:`PostgresStore` to pass a ready ``asyncpg.Pool``.
"""

from .schema import SCHEMA_VERSION, create_script
from .store import PostgresStore
from .urls import DEFAULT_TABLE

__version__ = "0.1.0"

__all__ = ["DEFAULT_TABLE", "SCHEMA_VERSION", "PostgresStore", "create_script"]
