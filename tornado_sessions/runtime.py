"""``SessionRuntime``: one application's session machinery, and the rules of a commit.

One runtime is built per :class:`tornado.web.Application`, on the first request
that asks for a session, from the application's ``sessions`` setting.  It holds
what every request shares (the store, the signer, the serializer, the cookie
format) and implements the two halves of a request's session work:

- :meth:`SessionRuntime.load`: cookie → verified id → one store read → a
  :class:`~tornado_sessions.session.Session` (or a fresh one, with no store call,
  when there is no valid cookie);
- :meth:`SessionRuntime.plan`: at the end of the response, decide what to write
  and which cookie to send, following express-session's rules:

  - new and unmodified: nothing stored, no cookie (both, with ``save_uninitialized``);
  - new and modified: ``save``, cookie set;
  - stored and modified, or ``resave``: ``save_changes`` (a delta, when the store
    can) or ``save``; cookie set if it carries Max-Age (its expiry moved), or
    ``rolling``;
  - stored and unmodified: ``touch`` once ``touch_after`` has passed; cookie set if
    touched and it carries Max-Age, or ``rolling``;
  - stored, emptied, with ``unset="destroy"``: ``destroy``, cookie cleared;
  - destroyed by the handler: (deleted already), cookie cleared.

Every store call goes through :meth:`SessionRuntime.call`, which bounds it by
``store_timeout`` (unless the store enforces timeouts itself), turns failures into
:class:`~tornado_sessions.errors.StoreError` and tells the observers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgpack

from .cookies import DUPLICATE, CookieFormat, read_cookie
from .errors import ConfigurationError, SerializationError, StoreError, StoreTimeoutError
from .ids import checked_id, log_id, store_key
from .options import SessionOptions
from .record import Changes, Record
from .registry import create_store, get_plugin_manager, get_serializer
from .session import _UNDECODED, MAX_LIFETIME, Session
from .signing import Signer
from .stores.base import Store

if TYPE_CHECKING:
    import tornado.web

__all__ = ["Commit", "SessionRuntime", "close_sessions", "runtime_for"]

log = logging.getLogger("tornado_sessions")
T = TypeVar("T")

_RUNTIME_ATTRIBUTE = "_tornado_sessions_runtime"
_META_VERSION = 1
_VERIFIED_CACHE_SIZE = 10_000


def runtime_for(application: tornado.web.Application) -> SessionRuntime:
    """The runtime of ``application``, built from its settings on first use."""
    runtime: SessionRuntime | None = getattr(application, _RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        settings = application.settings
        options = settings.get("sessions") or SessionOptions()
        if not isinstance(options, SessionOptions):
            raise ConfigurationError("the 'sessions' setting must be a SessionOptions instance")
        keys = options.secrets(settings.get("cookie_secret"), settings.get("key_version"))
        runtime = SessionRuntime(options, keys)
        setattr(application, _RUNTIME_ATTRIBUTE, runtime)
    return runtime


async def close_sessions(application: tornado.web.Application) -> None:
    """Close the session store of ``application`` (connections, background tasks).

    Call it on shutdown, after the HTTP server stopped accepting requests.  Safe to
    call when no request ever used a session, and more than once.
    """
    runtime: SessionRuntime | None = getattr(application, _RUNTIME_ATTRIBUTE, None)
    if runtime is not None and runtime._store is not None:
        await runtime._store.close()


def _pack_meta(created_at: float, max_age: float | bool | None) -> bytes:
    packed: bytes = msgpack.packb((_META_VERSION, created_at, max_age))
    return packed


#: How far in the future a stored creation time may lie (clock skew between servers).
CLOCK_SKEW = 300.0


def _unpack_meta(meta: bytes, now: float) -> tuple[float, float | bool | None]:
    """Decode the core's meta bytes, refusing values no honest write produces."""
    version, created_at, max_age = msgpack.unpackb(meta)
    if version != _META_VERSION or type(created_at) not in (int, float):
        raise ValueError("unknown session meta format")
    if not (math.isfinite(created_at) and 0 < created_at <= now + CLOCK_SKEW):
        raise ValueError("session meta has an impossible creation time")
    custom = max_age is not None and max_age is not False
    if custom and (type(max_age) not in (int, float) or not 0 < max_age <= MAX_LIFETIME):
        raise ValueError("session meta has an impossible lifetime")
    return float(created_at), max_age


class SessionRuntime:
    """Everything the requests of one application share; see the module docstring."""

    def __init__(self, options: SessionOptions, keys: list[bytes]) -> None:
        self.options = options
        self.signer = Signer(keys, options.name)
        serializer = options.serializer
        self.serializer = get_serializer(serializer) if isinstance(serializer, str) else serializer
        self.cookie = CookieFormat(
            options.name,
            path=options.cookie_path,
            domain=options.cookie_domain,
            httponly=options.cookie_httponly,
            samesite=options.cookie_samesite,
            partitioned=options.cookie_partitioned,
        )
        self._store = options.store if isinstance(options.store, Store) else None
        self._hook = get_plugin_manager().hook
        self._warned_insecure = False
        #: verified cookie value -> (id, store key); see _remember
        self._verified: dict[str, tuple[str, str]] = {}
        #: id -> its signed cookie value, for re-sending
        self._signed: dict[str, str] = {}
        if len(keys[0]) < 32:
            log.warning(
                "the session secret is %d bytes; use at least 32 random bytes", len(keys[0])
            )

    # -- store access -----------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store, created from its URL on first use (inside the running loop)."""
        if self._store is None:
            assert isinstance(self.options.store, str)
            self._store = create_store(self.options.store, timeout=self.options.store_timeout)
        return self._store

    async def call(self, operation: str, awaitable: Awaitable[T], handler: Any) -> T:
        """Await one store call under ``store_timeout``; failures become StoreError."""
        try:
            if self.store.enforces_timeout:
                return await awaitable
            async with asyncio.timeout(self.options.store_timeout):
                return await awaitable
        except TimeoutError as exc:
            error: StoreError = StoreTimeoutError(
                f"session store {operation} took longer than {self.options.store_timeout}s",
                operation=operation,
            )
            self._store_failed(error, exc, handler)
            raise error from exc
        except Exception as exc:
            error = StoreError(f"session store {operation} failed: {exc!r}", operation=operation)
            self._store_failed(error, exc, handler)
            raise error from exc

    def _store_failed(self, error: StoreError, cause: BaseException, handler: Any) -> None:
        error.__cause__ = cause
        self.notify(
            "tornado_sessions_store_error", error=error, operation=error.operation, handler=handler
        )

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook, if any plugin implements it."""
        caller = getattr(self._hook, hook_name)
        if caller.get_hookimpls():
            caller(**kwargs)

    # -- expiry -----------------------------------------------------------------

    def lifetime(self, session: Session) -> float:
        """Idle timeout of ``session`` in seconds."""
        max_age = session._max_age
        return self.options.max_age if max_age is None or max_age is False else max_age

    def persistent(self, session: Session) -> bool:
        """Whether the cookie of ``session`` carries Max-Age (else it is a browser-session one)."""
        max_age = session._max_age
        if max_age is None:
            return not self.options.browser_session_cookie
        return max_age is not False

    def expiry(self, session: Session, now: float) -> float:
        """When ``session`` expires if it is written or touched at ``now``."""
        expires = now + self.lifetime(session)
        absolute = self.options.absolute_timeout
        if absolute is not None:
            expires = min(expires, session.created_at + absolute)
        return expires

    # -- load -------------------------------------------------------------------

    async def load(self, handler: tornado.web.RequestHandler) -> Session:
        """The session of this request: one store read if the cookie is valid, else none."""
        raw = read_cookie(handler.request.headers, self.options.name)
        now = time.time()
        session_id: str | None = None
        key = ""
        current_secret = True
        if raw is DUPLICATE:
            log.warning(
                "request carries the session cookie %r twice; starting a new session",
                self.options.name,
            )
        elif raw:
            known = self._verified.get(raw)
            if known is not None:
                session_id, key = known
            else:
                verified = self.signer.verify(raw)
                if verified is None:
                    log.debug("session cookie with a bad signature ignored")
                else:
                    session_id, current_secret = verified
                    key = store_key(session_id, self.options.hash_ids)
                    if current_secret:
                        self._remember(raw, session_id, key)
        if session_id is not None:
            record = await self.call("load", self.store.load(key), handler)
            if record is not None:
                session = await self._inflate(record, session_id, key, handler, now)
                if session is not None:
                    session._resign = not current_secret
                    self.notify("tornado_sessions_session_loaded", session=session, handler=handler)
                    return session
        session = self.fresh(handler, now)
        if raw is DUPLICATE:
            session._clear_cookie = True
        return session

    def _remember(self, raw: str, session_id: str, key: str) -> None:
        """Cache a verified cookie value, so its next request skips the HMAC and hash.

        Keyed by the exact cookie string, so only a value that verified before can
        hit; bounded by emptying it when full.  Only values signed with the current
        secret are kept, so rotating secrets (a new runtime) starts empty anyway.
        """
        cache = self._verified
        if len(cache) >= _VERIFIED_CACHE_SIZE:
            cache.clear()
        cache[raw] = (session_id, key)

    def signed_value(self, session_id: str) -> str:
        """The cookie value for ``session_id``: from the cache when it was just verified."""
        value = self._signed.get(session_id)
        if value is None:
            value = self.signer.sign(session_id)
            if len(self._signed) >= _VERIFIED_CACHE_SIZE:
                self._signed.clear()
            self._signed[session_id] = value
        return value

    def fresh(self, handler: Any, now: float) -> Session:
        """A new, empty, unsaved session with a new id."""
        session_id = checked_id(self.options.genid())
        session = Session(
            self,
            handler,
            session_id,
            store_key(session_id, self.options.hash_ids),
            values={},
            loaded={},
            created_at=now,
            expires_at=0.0,
            max_age=None,
            stored=False,
        )
        session.expires_at = self.expiry(session, now)
        return session

    def _decode(self, record: Record, now: float) -> tuple[dict[str, Any], float, Any]:
        """Check a record and read its meta; values stay undecoded until first read."""
        if record.expires_at <= now:
            raise LookupError("expired")
        created_at, max_age = _unpack_meta(record.meta, now)
        absolute = self.options.absolute_timeout
        if absolute is not None and created_at + absolute <= now:
            raise LookupError("past absolute_timeout")
        fields = record.fields
        size = len(record.meta) + sum(map(len, fields)) + sum(map(len, fields.values()))
        if size > self.options.max_record_bytes:
            raise ValueError(f"record of {size} bytes exceeds max_record_bytes")
        return dict.fromkeys(fields, _UNDECODED), created_at, max_age

    def corrupt_value(self, session: Session, key: str, error: Exception) -> None:
        """Log a stored value that could not be decoded (it is then dropped)."""
        log.warning(
            "corrupt value of key %r in session %s dropped: %s", key, log_id(session.id), error
        )

    async def _inflate(
        self, record: Record, session_id: str, key: str, handler: Any, now: float
    ) -> Session | None:
        try:
            values, created_at, max_age = self._decode(record, now)
        except LookupError:
            await self.call("destroy", self.store.destroy(key), handler)
            return None
        except Exception as exc:
            log.warning("corrupt session record %s deleted: %s", log_id(session_id), exc)
            await self.call("destroy", self.store.destroy(key), handler)
            return None
        session = Session(
            self,
            handler,
            session_id,
            key,
            values=values,
            loaded=record.fields,
            created_at=created_at,
            expires_at=record.expires_at,
            max_age=max_age,
            stored=True,
            pending=len(values),
        )
        session._meta = record.meta
        return session

    # -- lifecycle operations (called by Session) ---------------------------------

    def _reset(self, session: Session, now: float) -> None:
        fresh = self.fresh(session._handler, now)
        for name in Session.__slots__:
            setattr(session, name, getattr(fresh, name))
        session._clear_cookie = True

    async def _delete_record(self, session: Session) -> None:
        if session._stored:
            handler = session._handler
            await self.call("destroy", self.store.destroy(session.key), handler)
            session._stored = False
            self.notify("tornado_sessions_session_destroyed", session=session, handler=handler)

    async def destroy(self, session: Session) -> None:
        await self._delete_record(session)
        self._reset(session, time.time())

    async def regenerate(self, session: Session) -> None:
        await self._delete_record(session)
        session.id = checked_id(self.options.genid())
        session.key = store_key(session.id, self.options.hash_ids)
        session.is_new = True
        session._stored = False
        session._clear_cookie = True

    async def reload(self, session: Session) -> None:
        now = time.time()
        record = None
        if session._stored:
            record = await self.call("load", self.store.load(session.key), session._handler)
        loaded = None
        if record is not None:
            loaded = await self._inflate(record, session.id, session.key, session._handler, now)
        if loaded is None:
            self._reset(session, now)
            return
        for name in Session.__slots__:
            setattr(session, name, getattr(loaded, name))

    async def save(self, session: Session) -> None:
        commit = self.plan(session, force=True)
        await commit.run()
        header = commit.cookie_header()
        if header is not None and session._handler is not None:
            session._handler._queue_session_cookie(header)

    # -- commit -----------------------------------------------------------------

    def plan(self, session: Session, *, force: bool = False) -> Commit:
        """Decide, at the end of a request, what to write and which cookie to send.

        Serializes what changed (raising SerializationError before anything is
        written); does no I/O.  ``force`` (``save()``) writes the whole record.
        """
        options = self.options
        commit = Commit(self, session)
        changes = session.changes()
        now = time.time()
        if not session._stored:
            if (
                force
                or changes
                or session._meta_changed
                or session._loaded
                or options.save_uninitialized
            ):
                commit.whole(changes, self.expiry(session, now))
                commit.cookie = "set"
            elif session._clear_cookie:
                commit.cookie = "clear"
            return commit
        if options.unset == "destroy" and not session._values and session._loaded:
            commit.operation = "destroy"
            commit.cookie = "clear"
            return commit
        expires = self.expiry(session, now)
        persistent_or_rolling = "set" if self.persistent(session) or options.rolling else None
        if force or changes or session._meta_changed or options.resave:
            if "save_changes" in self.store.capabilities:
                # Conditional on the record still existing, so a session destroyed by a
                # concurrent request (a logout) is never written back.  ``save()`` and
                # ``resave`` send every key; otherwise only what changed.
                commit.operation = "save_changes"
                commit.changes = (
                    self._every_key(session, changes) if (force or options.resave) else changes
                )
                commit.expires_at = expires
            else:
                commit.whole(changes, expires)
            # A lifetime change always re-sends: the browser must learn the new one.
            commit.cookie = "set" if session._meta_changed else persistent_or_rolling
        elif session._touch_requested or (
            expires > session.expires_at and expires - session.expires_at >= options.touch_after
        ):
            if "touch" in self.store.capabilities:
                commit.operation = "touch"
                commit.expires_at = expires
            else:
                commit.whole(changes, expires)
            commit.cookie = persistent_or_rolling
        elif options.rolling:
            commit.cookie = "set"
        if commit.cookie is None and session._resign:
            commit.cookie = "set"  # re-sign with the current secret; no store write needed
        if changes and commit.operation in ("save", "save_changes"):
            self._check_size(session, changes)
        return commit

    def _check_size(self, session: Session, changes: Changes) -> None:
        """Refuse a write that would make the record larger than ``max_record_bytes``."""
        updated, deleted = changes.updated, changes.deleted
        size = sum(
            len(name) + len(data)
            for name, data in session._loaded.items()
            if name not in updated and name not in deleted
        ) + sum(len(name) + len(data) for name, data in updated.items())
        limit = self.options.max_record_bytes
        if size > limit:
            largest = max(updated, key=lambda name: len(updated[name]))
            raise SerializationError(
                f"the session would be {size} bytes, over max_record_bytes={limit} "
                f"(largest change: key {largest!r})",
                key=largest,
            )

    @staticmethod
    def _every_key(session: Session, changes: Changes) -> Changes:
        """``changes`` widened to every key the session holds (for ``save()``/``resave``)."""
        updated = dict(session._loaded)
        updated.update(changes.updated)
        for name in changes.deleted:
            updated.pop(name, None)
        return Changes(updated, changes.deleted)

    def cookie_header(self, session: Session, kind: str) -> str:
        """The ``Set-Cookie`` value that sets (``"set"``) or clears the session cookie."""
        secure = self._secure(session._handler)
        if kind == "clear":
            return self.cookie.clear(secure=secure)
        session._resign = False
        max_age = None
        if self.persistent(session):
            max_age = int(session.expires_at - time.time())
        return self.cookie.set(self.signed_value(session.id), max_age=max_age, secure=secure)

    def _secure(self, handler: Any) -> bool:
        setting = self.options.cookie_secure
        request = handler.request
        https: bool = request.protocol == "https"
        if not https and self.options.trust_proxy:
            forwarded = request.headers.get("X-Forwarded-Proto", "")
            https = forwarded.split(",", 1)[0].strip().lower() == "https"
        if https:
            return setting is not False
        if setting is True:
            self._warn_once(
                "sending a Secure session cookie over plain http (%s): browsers other than "
                "for localhost will drop it, so sessions will not stick; serve over https, "
                "run HTTPServer(xheaders=True) or set trust_proxy=True behind a TLS proxy, "
                "or use cookie_secure='auto'",
                request.host,
            )
        elif self.options.cookie_samesite == "None" or self.options.cookie_partitioned:
            self._warn_once(
                "sending a SameSite=None or Partitioned session cookie over plain http (%s) "
                "without Secure: browsers reject such a cookie, so sessions will not stick; "
                "serve over https, run HTTPServer(xheaders=True) or set trust_proxy=True "
                "behind a TLS proxy",
                request.host,
            )
        return setting is True

    def _warn_once(self, message: str, *args: object) -> None:
        if not self._warned_insecure:
            self._warned_insecure = True
            log.warning(message, *args)


class Commit:
    """What one commit will do: a store operation (or none) and a cookie (or none)."""

    __slots__ = ("changes", "cookie", "expires_at", "fields", "operation", "runtime", "session")

    def __init__(self, runtime: SessionRuntime, session: Session) -> None:
        self.runtime = runtime
        self.session = session
        #: None, "save", "save_changes", "touch" or "destroy"
        self.operation: str | None = None
        #: None, "set" or "clear"
        self.cookie: str | None = None
        self.fields: Mapping[str, bytes] = session._loaded
        self.changes: Changes | None = None
        self.expires_at = session.expires_at

    def whole(self, changes: Changes, expires_at: float) -> None:
        """Write the whole record: the loaded fields with this request's changes applied."""
        fields = self.session._loaded
        if changes:
            merged = dict(fields)
            merged.update(changes.updated)
            for name in changes.deleted:
                merged.pop(name, None)
            fields = merged
        self.operation = "save"
        self.fields = fields
        self.expires_at = expires_at

    async def run(self) -> None:
        """Perform the store operation; on success the session matches the store."""
        runtime, session, operation = self.runtime, self.session, self.operation
        if operation is None:
            return
        store, handler, key = runtime.store, session._handler, session.key
        meta = session._meta
        if meta is None or session._meta_changed:
            meta = _pack_meta(session.created_at, session._max_age)
        if operation == "save":
            record = Record(self.fields, meta, self.expires_at)
            await runtime.call("save", store.save(key, record), handler)
        elif operation == "save_changes":
            assert self.changes is not None
            applied = await runtime.call(
                "save_changes",
                store.save_changes(key, self.changes, meta, self.expires_at),
                handler,
            )
            if not applied:
                return self._vanished()
            fields = dict(session._loaded)
            fields.update(self.changes.updated)
            for name in self.changes.deleted:
                fields.pop(name, None)
            self.fields = fields
        elif operation == "touch":
            touched = await runtime.call("touch", store.touch(key, self.expires_at), handler)
            if not touched:
                return self._vanished()
        else:
            await runtime.call("destroy", store.destroy(key), handler)
            session._stored = False
            session._clear_cookie = True
            runtime.notify("tornado_sessions_session_destroyed", session=session, handler=handler)
            return
        was_new = not session._stored
        session._meta = meta
        session._mark_clean(self.fields)
        session.expires_at = self.expires_at
        session._clear_cookie = False
        if operation != "touch":
            if was_new:
                runtime.notify("tornado_sessions_session_created", session=session, handler=handler)
            runtime.notify("tornado_sessions_session_saved", session=session, handler=handler)

    def _vanished(self) -> None:
        # Destroyed (or expired) by another request while this one ran: a delta or
        # touch must not bring it back.  Drop the write and the browser's cookie.
        log.info(
            "session %s was destroyed concurrently; this request's changes are dropped",
            log_id(self.session.id),
        )
        self.session._stored = False
        self.cookie = "clear"

    def cookie_header(self) -> str | None:
        """The ``Set-Cookie`` value to send after :meth:`run` succeeded, if any."""
        if self.cookie is None:
            return None
        return self.runtime.cookie_header(self.session, self.cookie)
