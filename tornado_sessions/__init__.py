"""Server-side sessions for Tornado.

The browser holds a signed session id in a cookie; the data lives in a store.
Start with :class:`SessionMixin`, :class:`SessionOptions` and :func:`open_sessions`.
"""

from .errors import (
    ConfigurationError,
    CorruptRecordError,
    SerializationError,
    SessionError,
    SessionFinishedError,
    SessionNotLoadedError,
    StoreError,
    StoreTimeoutError,
)
from .mixin import SessionMixin
from .options import SessionOptions
from .record import Changes, Record
from .reencrypt import ReencryptReport, reencrypt_store
from .registry import create_store, get_plugin_manager
from .serializers import JSONSerializer, MsgpackSerializer, Serializer
from .session import Session
from .startup import close_sessions, open_sessions
from .stores import MemoryStore, Store

__version__ = "0.2.0.dev0"

__all__ = [
    "Changes",
    "ConfigurationError",
    "CorruptRecordError",
    "JSONSerializer",
    "MemoryStore",
    "MsgpackSerializer",
    "Record",
    "ReencryptReport",
    "SerializationError",
    "Serializer",
    "Session",
    "SessionError",
    "SessionFinishedError",
    "SessionMixin",
    "SessionNotLoadedError",
    "SessionOptions",
    "Store",
    "StoreError",
    "StoreTimeoutError",
    "close_sessions",
    "create_store",
    "get_plugin_manager",
    "open_sessions",
    "reencrypt_store",
]
