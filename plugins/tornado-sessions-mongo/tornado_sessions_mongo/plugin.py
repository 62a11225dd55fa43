"""The pluggy plugin: registers ``mongodb://`` and ``mongodb+srv://`` with tornado-sessions.

Found through the ``tornado_sessions`` entry point this distribution declares, so
installing the package is all it takes for ``SessionOptions(store="mongodb://...")``.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado_sessions.hooks import StoreFactory, hookimpl

from .store import MongoStore


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """The store URL schemes this plugin serves."""
    return {"mongodb": MongoStore.from_url, "mongodb+srv": MongoStore.from_url}
