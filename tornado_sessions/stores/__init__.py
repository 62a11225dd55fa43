"""Session stores: the abstract contract and the built-in memory store.

Other stores come from plugins (see :mod:`tornado_sessions.hooks`); resolve one by
URL with :func:`tornado_sessions.create_store`.
"""

from .base import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
