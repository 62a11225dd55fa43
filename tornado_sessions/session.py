"""``Session``: the dict-like object a handler reads and writes, its changes and its lifecycle.

A session records, for the commit at the end of the request, exactly what the
request did to it: the keys it set, the keys it deleted, and the keys it *read*
whose values are mutable (lists, dicts, sets), since ``session["cart"].append(x)``
changes a value without setting it.  At commit time those read values are
serialized and compared with the bytes that were loaded; only real changes are
written, each key serialized once.

Values are decoded lazily: a loaded session maps each key to its stored bytes
until the key is first read, so a request that reads two keys of a large
session decodes two values.  A value that cannot be decoded reads as absent, is
logged, and the request's write removes it.

Its lifecycle is explicit state, a :class:`~tornado_sessions.decide.Stage` that
only this class changes:

- *new*: never stored (a first visit, or just regenerated or destroyed); the
  commit creates its record unconditionally;
- *stored*: its record exists; every write is conditional on the record still
  existing, so a session destroyed elsewhere meanwhile is never brought back;
- *gone*: a conditional write found the record missing (a logout in another
  tab); nothing of this request is written any more and the cookie is cleared;
- *finished*: the response is done; changing the session raises
  :class:`~tornado_sessions.errors.SessionFinishedError`.

The lifecycle methods (:meth:`Session.regenerate`, :meth:`~Session.destroy`,
:meth:`~Session.reload`, :meth:`~Session.save`) talk to the store at once through
the :class:`SessionIO` the core gives each session; the rest waits for the commit
(:mod:`tornado_sessions.commit`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, NamedTuple, Protocol

from .codec import ValueCodec
from .decide import CLEAR, FINISHED, GONE, KEEP, NEW, STORED, Cookie, Facts, Stage
from .errors import SerializationError, SessionFinishedError
from .ids import MAX_OWNER_LENGTH, OwnerKey, session_handle
from .meta import MAX_LIFETIME, Meta, pack_meta
from .record import NO_CHANGES, Changes, record_size

__all__ = ["FLASH_KEY", "LoadedRecord", "Session", "SessionIO"]

#: The session key flash messages are kept under (see :meth:`Session.flash`).
FLASH_KEY = "_flashes"

_MUTABLE = (list, dict, set, bytearray)
#: Stands in ``Session._values`` for a loaded value not decoded yet.
_UNDECODED: Any = type("_Undecoded", (), {"__repr__": lambda self: "<undecoded>"})()
_ABSENT: Any = object()


class LoadedRecord(NamedTuple):
    """A record that passed the core's checks, with its meta read (see ``record_checks``)."""

    fields: Mapping[str, bytes]
    meta: Meta
    meta_bytes: bytes
    expires_at: float
    #: ``record_size(fields, b"")`` when the checks measured it, else ``None``
    fields_size: int | None = None


class SessionIO(Protocol):
    """What a session needs from the core to do its lifecycle operations."""

    @property
    def codec(self) -> ValueCodec: ...

    def new_identity(self) -> tuple[str, str]:
        """A fresh ``(session id, store key)``."""
        ...

    def owner_key(self, owner: str) -> str:
        """The key the store indexes ``owner`` under (hashed with ``hash_ids``)."""
        ...

    async def fetch(self, session: Session) -> LoadedRecord | None:
        """The session's record, checked; ``None`` if it is gone (or was corrupt)."""
        ...

    async def delete(self, session: Session, keys: tuple[str, ...]) -> None:
        """Delete the records under ``keys`` (the session's, and any duplicates')."""
        ...

    async def commit(self, session: Session, *, force: bool) -> None:
        """Run a commit now (``save()``)."""
        ...

    def corrupt_value(self, session: Session, name: str, error: Exception) -> None:
        """Report a stored value that could not be decoded."""
        ...


class Session(MutableMapping[str, Any]):
    """The session of one request: a mutable mapping plus its lifecycle.

    Attributes:
        id: the session id (what the cookie carries, signed).  Secret: never
            show or log it.
        key: the store key derived from the id (its SHA-256 with ``hash_ids``).
        created_at: Unix time the session began (kept across ``regenerate()``).
        expires_at: Unix time the stored record expires, as last written (0 for a
            session never stored).
    """

    __slots__ = (
        "_codec",
        "_cookie",
        "_deleted",
        "_destroyed",
        "_duplicate_keys",
        "_duplicates",
        "_had_data",
        "_handler",
        "_io",
        "_issued_at",
        "_loaded",
        "_loaded_size",
        "_max_age",
        "_meta_bytes",
        "_meta_changed",
        "_owner",
        "_owner_changed",
        "_read",
        "_resign",
        "_stage",
        "_touch_requested",
        "_undecoded",
        "_updated",
        "_values",
        "created_at",
        "expires_at",
        "id",
        "key",
    )

    def __init__(
        self,
        io: SessionIO,
        handler: Any,
        session_id: str,
        key: str,
        *,
        now: float,
        record: LoadedRecord | None = None,
        resign: bool = False,
        duplicates: bool = False,
        duplicate_keys: tuple[str, ...] = (),
    ) -> None:
        self._io = io
        self._codec = io.codec
        self._handler = handler
        self.id = session_id
        self.key = key
        self._resign = resign
        #: store keys of the other validly signed cookies the request carried
        self._duplicates = duplicates
        self._duplicate_keys = duplicate_keys
        self._cookie = KEEP
        self._destroyed = False
        self._updated: set[str] = set()
        self._deleted: set[str] = set()
        self._read: set[str] = set()
        self._touch_requested = False
        self._meta_changed = False
        self._owner_changed = False
        if record is None:
            self._start_empty(now)
        else:
            self._adopt(record)

    def _start_empty(self, now: float) -> None:
        self._stage = NEW
        self._values: dict[str, Any] = {}
        self._undecoded = 0
        self._loaded: Mapping[str, bytes] = {}
        self._loaded_size: int | None = 0
        self._had_data = False
        self.created_at = now
        self.expires_at = 0.0
        self._max_age: float | bool | None = None
        self._owner: OwnerKey | None = None
        self._issued_at = now
        self._meta_bytes: bytes | None = None

    def _adopt(self, record: LoadedRecord) -> None:
        fields = record.fields
        self._stage = STORED
        self._values = dict.fromkeys(fields, _UNDECODED)
        self._undecoded = len(fields)
        self._loaded = fields
        self._loaded_size = record.fields_size
        self._had_data = bool(fields)
        meta = record.meta
        self.created_at = meta.created_at
        self.expires_at = record.expires_at
        self._max_age = meta.max_age
        self._owner = meta.owner
        self._issued_at = meta.issued_at
        self._meta_bytes = record.meta_bytes

    # -- mapping ----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._values[key]
        if value is _UNDECODED:
            value = self._decode(key)
        if isinstance(value, _MUTABLE):
            self._read.add(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        """``session[key]``, or ``default`` when the key is absent (or its value corrupt)."""
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        if value is _UNDECODED:
            try:
                value = self._decode(key)
            except KeyError:
                return default
        if isinstance(value, _MUTABLE):
            self._read.add(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if self._stage is FINISHED:
            self._refuse("set a key of")
        if type(key) is not str:
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        if self._values.get(key) is _UNDECODED:
            self._undecoded -= 1
        self._values[key] = value
        self._updated.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        if self._stage is FINISHED:
            self._refuse("delete a key of")
        if self._values.pop(key) is _UNDECODED:
            self._undecoded -= 1
        self._updated.discard(key)
        self._read.discard(key)
        if key in self._loaded:
            self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        # Decode everything first: a corrupt value is dropped when found, and must
        # never show up as a key whose value cannot be read.
        if self._undecoded:
            self._decode_all()
        return iter(self._values)

    def __len__(self) -> int:
        if self._undecoded:
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
        return f"<Session {self._stage.value} keys={sorted(self._values)!r}>"

    def clear(self) -> None:
        """Remove every key (without decoding any)."""
        for key in list(self._values):
            del self[key]

    def _decode(self, key: str) -> Any:
        """Decode one stored value; a corrupt one is dropped (and logged) as if absent."""
        try:
            value = self._codec.decode(self.key, key, self._loaded[key])
        except Exception as exc:
            self._io.corrupt_value(self, key, exc)
            del self._values[key]
            self._undecoded -= 1
            if not getattr(exc, "keep_stored", False):
                self._deleted.add(key)  # the next write removes it from the store
            raise KeyError(key) from None
        self._values[key] = value
        self._undecoded -= 1
        return value

    def _decode_all(self) -> None:
        for key in [key for key, value in self._values.items() if value is _UNDECODED]:
            try:
                self._decode(key)
            except KeyError:
                continue

    # -- what a handler can ask -------------------------------------------------

    @property
    def is_new(self) -> bool:
        """True until the session has been stored; ``regenerate()`` makes it new again."""
        return self._stage is NEW

    @property
    def modified(self) -> bool:
        """Whether this request changed the session's data, lifetime or owner (so far)."""
        return self._meta_changed or bool(self.changes())

    @property
    def max_age(self) -> float | None:
        """Seconds until the session expires on the server, as last written; ``None`` if new.

        Like express-session's ``req.session.cookie.maxAge``.  A write or a touch at
        the end of the request moves it forward.
        """
        if self._stage is NEW or not self.expires_at:
            return None
        return max(0.0, self.expires_at - time.time())

    # -- flash messages ---------------------------------------------------------

    def flash(self, message: str, category: str = "info") -> None:
        """Keep ``message`` for the next page that calls :meth:`flashes` (read once).

        The connect-flash / Django messages / Flask ``flash`` idiom: set it before a
        redirect, show it on the page the redirect leads to.  Messages live in the
        session under the key :data:`FLASH_KEY`, like any other key (so they are
        written with the session, and only a session that is saved keeps them).
        """
        pending = self.get(FLASH_KEY)
        messages = list(pending) if isinstance(pending, list) else []
        messages.append([str(category), str(message)])
        self[FLASH_KEY] = messages

    def flashes(self, category: str | None = None) -> list[tuple[str, str]]:
        """The flashed ``(category, message)`` pairs, oldest first, removed once read.

        With ``category``, only those of that category are returned (and removed).
        """
        if FLASH_KEY not in self:
            return []
        stored = self[FLASH_KEY]
        pairs = [
            (str(item[0]), str(item[1]))
            for item in (stored if isinstance(stored, list) else [])
            if isinstance(item, list) and len(item) == 2
        ]
        if category is None:
            del self[FLASH_KEY]
            return pairs
        kept = [[c, m] for c, m in pairs if c != category]
        if kept:
            self[FLASH_KEY] = kept
        else:
            del self[FLASH_KEY]
        return [(c, m) for c, m in pairs if c == category]

    # -- lifecycle --------------------------------------------------------------

    def touch(self) -> None:
        """Extend the session's expiry when the response is sent, whatever ``touch_after`` says."""
        self._check_open("touch")
        self._touch_requested = True

    def set_max_age(self, seconds: float | None) -> None:
        """Give this session its own lifetime, e.g. for "remember me".

        ``seconds`` becomes both the server-side idle timeout and the cookie's
        Max-Age.  ``None`` makes the cookie a browser-session cookie (gone when
        the browser closes); the server still expires the record after the
        default ``max_age`` of idleness.  ``absolute_timeout`` still applies.
        """
        self._check_open("set the lifetime of")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise TypeError(f"set_max_age() takes seconds as a number or None, not {seconds!r}")
            if not 0 < seconds <= MAX_LIFETIME:
                raise ValueError(
                    "set_max_age() takes a positive number of seconds (at most ten years, "
                    f"{MAX_LIFETIME:.0f}) or None, not {seconds!r}"
                )
        self._max_age = False if seconds is None else float(seconds)
        self._meta_changed = True
        self._meta_bytes = None

    @property
    def owner(self) -> str | None:
        """Who the session belongs to, as the store indexes it; ``None`` for nobody.

        Set it to the user's id right after login (usually after
        :meth:`regenerate`): ``session.owner = str(user.id)``.  The store then
        indexes the session under its owner, so :func:`~tornado_sessions.sessions_of`
        and :func:`~tornado_sessions.end_sessions` find a user's sessions without a
        scan, and ``max_sessions_per_owner`` can cap them.

        With ``hash_ids`` (the default) the owner is stored as a hash, so a store
        dump does not say whose sessions it holds; reading this property then gives
        that hash, not what was assigned.  Use :meth:`owned_by` to compare.  The
        value read can be passed back to ``sessions_of`` or ``end_sessions`` as it is.
        """
        return self._owner

    @owner.setter
    def owner(self, owner: str | None) -> None:
        self._check_open("set the owner of")
        if owner is not None:
            if not isinstance(owner, str) or not 0 < len(owner) <= MAX_OWNER_LENGTH:
                raise ValueError(
                    f"a session's owner is a string of 1 to {MAX_OWNER_LENGTH} characters "
                    f"(a user id) or None, not {owner!r:.60}"
                )
            if not isinstance(owner, OwnerKey):  # a value read from .owner is kept as it is
                owner = OwnerKey(self._io.owner_key(owner))
        if owner != self._owner:
            self._owner = owner
            self._owner_changed = True
            self._meta_changed = True
            self._meta_bytes = None

    def owned_by(self, owner: str) -> bool:
        """Whether the session's owner is ``owner`` (what was assigned to :attr:`owner`)."""
        key = owner if isinstance(owner, OwnerKey) else self._io.owner_key(owner)
        return self._owner is not None and self._owner == key

    @property
    def handle(self) -> str:
        """A stable, non-secret name of this session, safe to show and to send back.

        It names the session in :func:`~tornado_sessions.sessions_of` and
        :func:`~tornado_sessions.end_session` (a "your devices" page), and cannot
        be turned back into the id or used as a cookie.  It changes with the id
        (:meth:`regenerate`).
        """
        return session_handle(self.id)

    async def regenerate(self) -> None:
        """Move the session to a new id, keeping its data; the old record is deleted now.

        Call it when privileges change (login, logout, sudo): an id an attacker
        planted before login is worthless after.  ``is_new`` becomes true and the
        new cookie goes out with the response; ``created_at`` is kept, so
        ``absolute_timeout`` still counts from the session's start.  If this
        request already learned that its record was destroyed elsewhere, the
        data is not carried over: a logout is not undone by a new id.
        """
        self._check_open("regenerate")
        await self._delete_records()
        if self._stage is GONE:
            self._values, self._loaded, self._undecoded = {}, {}, 0
            self._updated.clear()
            self._deleted.clear()
            self._read.clear()
        old_key = self.key
        self.id, self.key = self._io.new_identity()
        self._loaded = self._codec.rebind(old_key, self.key, self._loaded)
        self._loaded_size = None  # rebound values may differ in length: measured if needed
        self._stage = NEW
        self._issued_at = time.time()
        self._meta_bytes = None
        self._cookie = CLEAR  # the old id is dead; a new cookie replaces it if written

    async def destroy(self) -> None:
        """Delete the session now; the response clears the cookie.

        The object becomes a new, empty session: writing to it afterwards starts
        a fresh session with a new id.
        """
        self._check_open("destroy")
        await self._delete_records()
        self._restart()
        self._destroyed = True

    async def reload(self) -> None:
        """Re-read the session from the store, dropping this request's unsaved changes.

        If the record is gone (expired or destroyed elsewhere), the session becomes
        a new, empty one.
        """
        self._check_open("reload")
        record = await self._io.fetch(self) if self._stage is STORED else None
        self._updated.clear()
        self._deleted.clear()
        self._read.clear()
        self._touch_requested = False
        self._meta_changed = False
        self._owner_changed = False
        if record is None:
            self._restart()
        else:
            self._adopt(record)

    async def save(self) -> None:
        """Write the session to the store now, every key, even if unmodified.

        Useful before a long-running operation or a redirect whose target must
        see the data.  The cookie still goes out with the response.  If the
        record was destroyed elsewhere meanwhile, nothing is written.
        """
        self._check_open("save")
        await self._io.commit(self, force=True)

    async def _delete_records(self) -> None:
        keys = self._duplicate_keys
        if self._stage is STORED:
            keys = (self.key, *keys)
        if keys:
            await self._io.delete(self, keys)
        self._duplicate_keys = ()

    def _restart(self) -> None:
        """Become a new, empty session with a new id; the browser's cookie is to be cleared."""
        self.id, self.key = self._io.new_identity()
        self._updated.clear()
        self._deleted.clear()
        self._read.clear()
        self._touch_requested = False
        self._meta_changed = False
        self._owner_changed = False
        self._start_empty(time.time())
        self._cookie = CLEAR

    def _check_open(self, action: str) -> None:
        if self._stage is FINISHED:
            self._refuse(action)

    def _refuse(self, action: str) -> None:
        raise SessionFinishedError(
            f"cannot {action} the session: the response is finished, so nothing more "
            "can reach the store or the cookie (change the session before finish())"
        )

    # -- for the core's commit (mod:`tornado_sessions.commit`) ---------------------
    #
    # The commit reads the session through these and reports its outcome through
    # the methods after them; it never touches the session's attributes directly.

    @property
    def stage(self) -> Stage:
        """Where the session is in its lifecycle (see the module docstring)."""
        return self._stage

    @property
    def handler(self) -> Any:
        """The request handler this session belongs to (``None`` once finished)."""
        return self._handler

    @property
    def owner_changed(self) -> bool:
        """Whether this request gave the session a new owner (not written yet)."""
        return self._owner_changed

    def facts(
        self, changes: Changes, *, forced: bool, persistent: bool, next_expiry: float
    ) -> Facts:
        """What :func:`~tornado_sessions.decide.decide` needs of this session, now.

        ``changes`` is what :meth:`changes` returned (``NO_CHANGES`` or a delta holding
        a key); the rest the commit computes
        from the options.
        """
        return Facts(
            self._stage,
            changes is not NO_CHANGES,
            self._meta_changed,
            not self._values,
            self._had_data,
            forced,
            self._touch_requested,
            persistent,
            self._cookie,
            self._resign,
            self.expires_at,
            next_expiry,
        )

    @property
    def own_max_age(self) -> float | bool | None:
        """The session's own lifetime: ``None`` (the options'), ``False`` (browser session)."""
        return self._max_age

    @property
    def pending_cookie(self) -> Cookie:
        """What the response must tell the browser about the cookie, as decided so far."""
        return self._cookie

    @property
    def destroyed(self) -> bool:
        """Whether :meth:`destroy` was called during this request."""
        return self._destroyed

    @property
    def duplicate_cookies(self) -> bool:
        """Whether the request carried the session cookie more than once (cookie tossing)."""
        return self._duplicates

    @property
    def loaded_fields(self) -> Mapping[str, bytes]:
        """The serialized fields as the store held them when last read or written."""
        return self._loaded

    @property
    def loaded_size(self) -> int:
        """``record_size(loaded_fields, b"")``: as the load or the last write measured it.

        Measured here instead when nothing did (after a touch, a renewal, a new id).
        """
        size = self._loaded_size
        if size is None:
            size = self._loaded_size = record_size(self._loaded, b"")
        return size

    def changes(self) -> Changes:
        """The keys to write and delete: set keys, plus mutable values changed in place.

        Serializes each candidate value once; raises
        :class:`~tornado_sessions.errors.SerializationError` naming the key.  Nothing
        changed: :data:`~tornado_sessions.record.NO_CHANGES` itself.
        """
        set_keys, read = self._updated, self._read
        if not (set_keys or read or self._deleted):
            return NO_CHANGES
        encode, store_key = self._codec.encode, self.key
        updated: dict[str, bytes] = {}
        values, loaded = self._values, self._loaded
        for key in set_keys | read if read else set_keys:
            value = values[key]
            try:
                data: bytes = encode(store_key, key, value)
            except Exception as exc:
                raise SerializationError(f"session key {key!r}: {exc}", key=key) from exc
            # a key set is written; a mutable value read only if it no longer encodes
            # to the bytes loaded
            if key in set_keys or data != loaded.get(key):
                updated[key] = data
        if not updated and not self._deleted:
            return NO_CHANGES
        return Changes(updated, frozenset(self._deleted), self._owner)

    def meta(self) -> Meta:
        """The session's meta, as the next write stores it."""
        return Meta(self.created_at, self._max_age, self._owner, self._issued_at)

    def meta_bytes(self) -> bytes:
        """The packed meta for the next write (reused while nothing in it changed)."""
        data = self._meta_bytes
        if data is None:
            data = self._meta_bytes = pack_meta(self.meta())
        return data

    def wrote(
        self, fields: Mapping[str, bytes], expires_at: float, *, size: int | None = None
    ) -> None:
        """The commit's write succeeded: ``fields`` is now exactly what the store holds.

        ``size`` is their :attr:`loaded_size`, when the commit computed it.
        """
        self._stage = STORED
        self._loaded = fields
        self._loaded_size = size
        self.expires_at = expires_at
        self._updated.clear()
        self._deleted.clear()
        self._read.clear()
        self._meta_changed = False
        self._owner_changed = False
        self._touch_requested = False

    def renamed(self, session_id: str, key: str, fields: Mapping[str, bytes]) -> None:
        """The session was renewed (``rotate_after``) while this request ran: it now lives
        under ``session_id``, holding ``fields``; the response sends the new cookie."""
        self.id, self.key = session_id, key
        self._loaded = fields
        self._loaded_size = None
        self._resign = True

    def found_gone(self) -> None:
        """A conditional write found the record missing: nothing more is written."""
        self._stage = GONE
        self._cookie = CLEAR

    def removed(self) -> None:
        """The commit destroyed the record (``unset="destroy"``)."""
        self._stage = GONE
        self._cookie = CLEAR

    def decide_cookie(self, cookie: Cookie) -> None:
        """Record the commit's cookie decision (``KEEP`` leaves the earlier one)."""
        if cookie is not KEEP:
            self._cookie = cookie

    def cookie_sent(self) -> None:
        """The response carried the cookie decision: nothing is pending any more."""
        self._cookie = KEEP
        self._resign = False

    def finish(self) -> None:
        """The response is done: refuse changes, and let go of the handler."""
        self._stage = FINISHED
        self._handler = None
