"""Server-side sessions for Tornado.

The browser holds a signed session id in a cookie; the data lives in a store.
"""

from .errors import (
    ConfigurationError,
    SerializationError,
    SessionError,
    SessionNotLoadedError,
    StoreError,
    StoreTimeoutError,
)
from .record import Changes, Record
from .registry import create_store, get_plugin_manager
from .stores import MemoryStore, Store

__version__ = "0.1.0"

__all__ = [
    "Changes",
    "ConfigurationError",
    "MemoryStore",
    "Record",
    "SerializationError",
    "SessionError",
    "SessionNotLoadedError",
    "Store",
    "StoreError",
    "StoreTimeoutError",
    "create_store",
    "get_plugin_manager",
]
