"""The pluggy plugin: registers the SQLite store for ``sqlite://``.

Found through the ``tornado_sessions`` entry-point group declared in this
distribution's ``setup.py``.  Importing it does not import aiosqlite: the store
does, when it is opened.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado_sessions.hooks import StoreFactory, hookimpl

from .store import SQLiteStore
from .urls import SCHEMES

__all__ = ["tornado_sessions_add_stores"]

_FACTORY: StoreFactory = SQLiteStore.from_url


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """Serve ``sqlite://`` with :meth:`SQLiteStore.from_url`."""
    return dict.fromkeys(SCHEMES, _FACTORY)
