"""Exceptions raised by tornado-sessions.

Everything the library raises on purpose derives from :class:`SessionError`, so an
application can catch the whole family with one clause.  Store failures keep the
store's own exception as ``__cause__`` (``raise StoreError(...) from exc``), so the
traceback in the log shows what the driver said.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "CorruptRecordError",
    "SerializationError",
    "SessionError",
    "SessionFinishedError",
    "SessionNotLoadedError",
    "StoreError",
    "StoreTimeoutError",
]


class SessionError(Exception):
    """Base class of every error tornado-sessions raises."""


class ConfigurationError(SessionError, ValueError):
    """Options that cannot work together, found when they are built or first used."""


class StoreError(SessionError):
    """A store operation failed; the driver's exception is chained as ``__cause__``.

    The mixin answers such a request with 503 and never sends a cookie for a
    record that was not written.
    """

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        #: The store method that failed: ``"load"``, ``"save"``, ``"touch"``, ``"destroy"``...
        self.operation = operation


class CorruptRecordError(SessionError):
    """What a store holds under a key is not a session record it can read.

    A store's ``load`` raises it (instead of a driver error) when the key holds
    something it did not write: another data type, fields of the wrong type, a
    missing part.  The core then deletes the key, logs it, and the request gets a
    fresh session: a corrupt record must never turn into a 503 on every request.
    """


class StoreTimeoutError(StoreError, TimeoutError):
    """A store operation took longer than ``SessionOptions.store_timeout``."""


class SerializationError(SessionError, TypeError):
    """A session value cannot be serialized; the message names the key.

    Raised at save time, so the request fails with 500 and nothing is written.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        #: The session key whose value failed, when known.
        self.key = key


class SessionFinishedError(SessionError, RuntimeError):
    """The session was used to change something after the response was finished.

    Nothing done after ``finish()`` can reach the store, so it fails loudly instead
    of being lost without a word.
    """


class SessionNotLoadedError(SessionError, RuntimeError):
    """``handler.session`` was read before the session was loaded."""
