"""Redis session store for tornado-sessions: single node and Redis Cluster.

Installing this distribution is enough for ``SessionOptions(store="redis://...")``:
the store registers itself through the ``tornado_sessions`` entry points
(:mod:`tornado_sessions_redis.plugin`).  Build one by hand with
:class:`RedisStore` to pass a ready ``redis.asyncio`` client.

The names that need redis-py (:class:`RedisStore`, :class:`RedisClient`, and the
store's own single-node client :class:`MultiplexedClient` with its
:class:`ConnectionSettings`) are imported on first use, so importing this package
(as plugin discovery does) does not import the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .urls import DEFAULT_PREFIX

if TYPE_CHECKING:
    from .multiplexed import ConnectionSettings, MultiplexedClient
    from .store import META_FIELD, VALUE_PREFIX, RedisClient, RedisStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PREFIX",
    "META_FIELD",
    "VALUE_PREFIX",
    "ConnectionSettings",
    "MultiplexedClient",
    "RedisClient",
    "RedisStore",
]

_LAZY = frozenset({"META_FIELD", "VALUE_PREFIX", "RedisClient", "RedisStore"})
_CLIENT = frozenset({"ConnectionSettings", "MultiplexedClient"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            from . import store
        except AttributeError as exc:  # would read as "cannot import name" without this
            raise ImportError(f"tornado_sessions_redis.store failed to import: {exc}") from exc
        return getattr(store, name)
    if name in _CLIENT:
        from . import multiplexed

        return getattr(multiplexed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
