"""The pluggy plugin: registers the Redis store for its URL schemes.

Found through the ``tornado_sessions`` entry-point group declared in this
distribution's ``setup.py``; :func:`tornado_sessions.create_store` then builds a
:class:`~tornado_sessions_redis.store.RedisStore` for ``redis://``, ``rediss://``,
``unix://``, ``redis+cluster://`` and ``rediss+cluster://`` URLs.

Importing this module does not import redis-py: plugin discovery happens in every
application, including those on ``memory://``.  The driver is imported by
:func:`create`, when a Redis store is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tornado_sessions.hooks import StoreFactory, hookimpl

from .urls import SCHEMES

if TYPE_CHECKING:
    from .store import RedisStore

__all__ = ["create", "tornado_sessions_add_stores"]


def create(url: str, *, timeout: float) -> RedisStore:
    """The store factory registered for the Redis URL schemes: ``RedisStore.from_url``.

    A URL the store cannot use (an unknown option, a value of the wrong type) is a
    :class:`~tornado_sessions.errors.ConfigurationError` raised here, at start-up.
    """
    from .store import RedisStore

    return RedisStore.from_url(url, timeout=timeout)


# One factory object for every scheme: the registry compares factories by identity.
_FACTORY: StoreFactory = create


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """Serve every Redis URL scheme with :func:`create`."""
    return dict.fromkeys(SCHEMES, _FACTORY)
