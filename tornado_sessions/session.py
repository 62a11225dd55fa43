"""``Session``: the dict-like object a handler reads and writes, and its change tracking.

A session records, for the core's commit, exactly what a request did to it: the
keys it set, the keys it deleted, and the keys it *read* whose values are mutable
(lists, dicts, sets), since ``session["cart"].append(x)`` changes a value without
setting it.  At commit time those read values are serialized and compared with
the bytes that were loaded; only real changes are written, each key serialized
once.

The lifecycle methods (:meth:`Session.regenerate`, :meth:`destroy`,
:meth:`reload`, :meth:`save`) talk to the store at once; the rest of the work
happens when the response is finished (see :mod:`tornado_sessions.mixin`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .errors import SerializationError
from .record import Changes

if TYPE_CHECKING:
    from .runtime import SessionRuntime

__all__ = ["Session"]

_MUTABLE = (list, dict, set, bytearray)
#: Stands in ``Session._values`` for a loaded value not decoded yet.
_UNDECODED: Any = type("_Undecoded", (), {"__repr__": lambda self: "<undecoded>"})()
_ABSENT: Any = object()
#: Longest lifetime a session may have (``set_max_age`` refuses more; so does loading).
MAX_LIFETIME = 10 * 365 * 86400.0


class Session(MutableMapping[str, Any]):
    """The session of one request: a mutable mapping plus its lifecycle.

    Attributes:
        id: the session id (what the cookie carries, signed).
        is_new: true until the session has been stored by an earlier request; a
            ``regenerate()`` makes it new again.
        created_at: Unix time the session began (kept across ``regenerate()``).
        expires_at: Unix time the stored record expires, as last written.
    """

    __slots__ = (
        "_clear_cookie",
        "_deleted",
        "_handler",
        "_loaded",
        "_max_age",
        "_meta",
        "_meta_changed",
        "_pending",
        "_read",
        "_resign",
        "_runtime",
        "_stored",
        "_touch_requested",
        "_updated",
        "_values",
        "created_at",
        "expires_at",
        "id",
        "is_new",
        "key",
    )

    def __init__(
        self,
        runtime: SessionRuntime,
        handler: Any,
        session_id: str,
        key: str,
        *,
        values: dict[str, Any],
        loaded: Mapping[str, bytes],
        created_at: float,
        expires_at: float,
        max_age: float | bool | None,
        stored: bool,
        pending: int = 0,
    ) -> None:
        self._runtime = runtime
        self._handler = handler
        self.id = session_id
        self.key = key
        self.is_new = not stored
        self.created_at = created_at
        self.expires_at = expires_at
        self._values = values
        #: how many entries of _values are still _UNDECODED
        self._pending = pending
        self._loaded = loaded
        #: per-session lifetime: None = the options' default, False = browser session
        self._max_age = max_age
        self._stored = stored
        self._updated: set[str] = set()
        self._deleted: set[str] = set()
        self._read: set[str] = set()
        self._meta_changed = False
        #: the stored meta bytes, reused by writes while the lifetime is unchanged
        self._meta: bytes | None = None
        self._touch_requested = False
        #: the browser's cookie points at a record that is gone: clear it unless replaced
        self._clear_cookie = False
        #: the browser's cookie was signed with an older secret: send a re-signed one
        self._resign = False

    # -- mapping ----------------------------------------------------------------
    #
    # Values are decoded lazily: a loaded session maps each key to _UNDECODED until
    # the key is first read, so a request that reads two keys of a large session
    # decodes two values.  Iterating (or len()) decodes everything first, so that a
    # corrupt value, which is dropped when found, never shows up as a key whose
    # value cannot be read.

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        if value is _UNDECODED:
            value = self._decode(key)
        if isinstance(value, _MUTABLE):
            self._read.add(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        if self._values.get(key) is _UNDECODED:
            self._pending -= 1
        self._values[key] = value
        self._updated.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        if self._values.pop(key) is _UNDECODED:
            self._pending -= 1
        self._updated.discard(key)
        self._read.discard(key)
        if key in self._loaded:
            self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        if self._pending:
            self._decode_all()
        return iter(self._values)

    def __len__(self) -> int:
        if self._pending:
            self._decode_all()
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        value = self._values.get(key, _ABSENT)  # type: ignore[call-overload]
        if value is _UNDECODED:
            try:
                self._decode(key)  # type: ignore[arg-type]
            except KeyError:
                return False
        return value is not _ABSENT

    def __repr__(self) -> str:
        state = "new" if self.is_new else "stored"
        return f"<Session {state} keys={sorted(self._values)!r}>"

    def _decode(self, key: str) -> Any:
        """Decode one stored value; a corrupt one is dropped (and logged) as if absent."""
        try:
            value = self._runtime.serializer.loads(self._loaded[key])
        except Exception as exc:
            self._runtime.corrupt_value(self, key, exc)
            del self._values[key]
            self._pending -= 1
            self._deleted.add(key)  # the next write removes it from the store
            raise KeyError(key) from None
        self._values[key] = value
        self._pending -= 1
        return value

    def _decode_all(self) -> None:
        for key in [key for key, value in self._values.items() if value is _UNDECODED]:
            with suppress(KeyError):
                self._decode(key)

    def clear(self) -> None:
        """Remove every key (a cheaper ``clear`` than the mixin's default)."""
        for key in list(self._values):
            del self[key]

    # -- state ------------------------------------------------------------------

    @property
    def modified(self) -> bool:
        """Whether this request changed the session's data or lifetime."""
        return self._meta_changed or bool(self.changes())

    def changes(self) -> Changes:
        """The keys to write and delete: set keys, plus mutable values changed in place.

        Serializes each candidate value once; raises
        :class:`~tornado_sessions.errors.SerializationError` naming the key.
        """
        dumps = self._runtime.serializer.dumps
        updated: dict[str, bytes] = {}
        values, loaded = self._values, self._loaded
        for key in self._updated:
            updated[key] = _dump(dumps, key, values[key])
        for key in self._read - self._updated:
            data = _dump(dumps, key, values[key])
            if data != loaded.get(key):
                updated[key] = data
        if not updated and not self._deleted:
            return _NO_CHANGES
        return Changes(updated, frozenset(self._deleted))

    def _mark_clean(self, fields: Mapping[str, bytes]) -> None:
        """Called after a successful write: ``fields`` is now what the store holds."""
        self._loaded = fields
        self._updated.clear()
        self._deleted.clear()
        self._read.clear()
        self._meta_changed = False
        self._touch_requested = False
        self._stored = True

    # -- lifecycle --------------------------------------------------------------

    def touch(self) -> None:
        """Extend the session's expiry when the response is sent, whatever ``touch_after`` says."""
        self._touch_requested = True

    def set_max_age(self, seconds: float | None) -> None:
        """Give this session its own lifetime, e.g. for "remember me".

        ``seconds`` becomes both the server-side idle timeout and the cookie's
        Max-Age.  ``None`` makes the cookie a browser-session cookie (gone when
        the browser closes); the server still expires the record after the
        default ``max_age`` of idleness.  ``absolute_timeout`` still applies.
        """
        if seconds is not None and not 0 < seconds <= MAX_LIFETIME:
            raise ValueError(
                "set_max_age() takes a positive number of seconds (at most ten years) or None"
            )
        self._max_age = False if seconds is None else float(seconds)
        self._meta_changed = True

    async def regenerate(self) -> None:
        """Move the session to a new id, keeping its data; the old record is deleted now.

        Call it when privileges change (login, logout, sudo): an id an attacker
        planted before login is worthless after.  ``is_new`` becomes true and the
        new cookie goes out with the response; ``created_at`` is kept, so
        ``absolute_timeout`` still counts from the session's start.
        """
        await self._runtime.regenerate(self)

    async def destroy(self) -> None:
        """Delete the session now; the response clears the cookie.

        The object becomes a new, empty session: writing to it afterwards starts
        a fresh session with a new id.
        """
        await self._runtime.destroy(self)

    async def reload(self) -> None:
        """Re-read the session from the store, dropping this request's unsaved changes.

        If the record is gone (expired or destroyed elsewhere), the session becomes
        a new, empty one.
        """
        await self._runtime.reload(self)

    async def save(self) -> None:
        """Write the session to the store now, whole, even if unmodified.

        Useful before a long-running operation or a redirect whose target must
        see the data.  The cookie still goes out with the response.
        """
        await self._runtime.save(self)


_NO_CHANGES = Changes()


def _dump(dumps: Any, key: str, value: Any) -> bytes:
    try:
        data: bytes = dumps(value)
    except SerializationError as exc:
        raise SerializationError(f"session key {key!r}: {exc}", key=key) from exc
    except Exception as exc:
        raise SerializationError(f"session key {key!r}: {exc}", key=key) from exc
    return data
