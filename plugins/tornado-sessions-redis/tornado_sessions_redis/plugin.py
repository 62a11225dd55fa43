"""The pluggy plugin: registers the Redis store for its URL schemes.

Found through the ``tornado_sessions`` entry-point group declared in this
distribution's ``setup.py``; :func:`tornado_sessions.create_store` then builds a
:class:`~tornado_sessions_redis.store.RedisStore` for ``redis://``, ``rediss://``,
``unix://``, ``redis+cluster://`` and ``rediss+cluster://`` URLs.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado_sessions.hooks import StoreFactory, hookimpl

from .store import RedisStore
from .urls import SCHEMES

__all__ = ["tornado_sessions_add_stores"]

# One factory object for every scheme: the registry compares factories by identity.
_FACTORY: StoreFactory = RedisStore.from_url


@hookimpl
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """Serve every Redis URL scheme with :meth:`RedisStore.from_url`."""
    return dict.fromkeys(SCHEMES, _FACTORY)
