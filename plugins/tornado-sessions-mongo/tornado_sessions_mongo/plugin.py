"""The pluggy plugin: registers ``mongodb://`` and ``mongodb+srv://`` with tornado-sessions.

Found through the ``tornado_sessions`` entry point this distribution declares, so
installing the package is all it takes for ``SessionOptions(store="mongodb://...")``.

Importing this module does not import PyMongo: plugin discovery happens in every
application, including those on ``memory://``.  :func:`create` imports the store
(and so the driver) when a MongoDB store is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tornado_sessions.hooks import StoreFactory, hookimpl

from .urls import SCHEMES

if TYPE_CHECKING:
    from .store import MongoStore

__all__ = ["create", "tornado_sessions_add_stores"]


def create(url: str, *, timeout: float) -> MongoStore:
    """The store factory registered for the MongoDB URL schemes: ``MongoStore.from_url``.

    A URL the store cannot use (an unknown option, a bad value) is a
    :class:`~tornado_sessions.errors.ConfigurationError` raised here, at start-up.
    Nothing connects before the store's ``open()``.
    """
    from .store import MongoStore

    return MongoStore.from_url(url, timeout=timeout)


# One factory object for every scheme: the registry compares factories by identity.
_FACTORY: StoreFactory = create


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """The store URL schemes this plugin serves."""
    return dict.fromkeys(SCHEMES, _FACTORY)
