"""The pluggy plugin: registers the PostgreSQL store for ``postgresql://`` and ``postgres://``.

Found through the ``tornado_sessions`` entry-point group declared in this
distribution's ``setup.py``; :func:`tornado_sessions.create_store` then builds a
:class:`~tornado_sessions_postgres.store.PostgresStore`.  Importing this module does
not import asyncpg: the store does, when it is opened.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado_sessions.hooks import StoreFactory, hookimpl

from .store import PostgresStore
from .urls import SCHEMES

__all__ = ["tornado_sessions_add_stores"]

# One factory object for every scheme: the registry compares factories by identity.
_FACTORY: StoreFactory = PostgresStore.from_url


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """Serve ``postgresql://`` and ``postgres://`` with :meth:`PostgresStore.from_url`."""
    return dict.fromkeys(SCHEMES, _FACTORY)
