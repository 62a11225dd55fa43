"""Redis session store for tornado-sessions: single node and Redis Cluster.

Installing this distribution is enough for ``SessionOptions(store="redis://...")``:
the store registers itself through the ``tornado_sessions`` entry points
(:mod:`tornado_sessions_redis.plugin`).  Build one by hand with
:class:`RedisStore` to pass a ready ``redis.asyncio`` client.
"""

from .store import META_FIELD, VALUE_PREFIX, RedisClient, RedisStore
from .urls import DEFAULT_PREFIX

__version__ = "0.1.0"

__all__ = ["DEFAULT_PREFIX", "META_FIELD", "VALUE_PREFIX", "RedisClient", "RedisStore"]
