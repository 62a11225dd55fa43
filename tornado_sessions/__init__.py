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
from .mixin import SessionMixin
from .options import SessionOptions
from .record import Changes, Record
from .registry import create_store, get_plugin_manager
from .runtime import close_sessions
from .serializers import JSONSerializer, MsgpackSerializer, Serializer
from .session import Session
from .stores import MemoryStore, Store

__version__ = "0.1.0"

__all__ = [
    "Changes",
    "ConfigurationError",
    "JSONSerializer",
    "MemoryStore",
    "MsgpackSerializer",
    "Record",
    "SerializationError",
    "Serializer",
    "Session",
    "SessionError",
    "SessionMixin",
    "SessionNotLoadedError",
    "SessionOptions",
    "Store",
    "StoreError",
    "StoreTimeoutError",
    "close_sessions",
    "create_store",
    "get_plugin_manager",
]
