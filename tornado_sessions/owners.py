"""A user's sessions: list them, end them ("log out everywhere"), cap how many there are.

A session gets an owner with ``session.owner = user_id``; the store keeps an index
from owner to sessions (the optional ``Store.owner_sessions`` capability), so
everything here costs store calls in proportion to that owner's sessions, never a
scan of the store.  A store without the capability makes these functions raise a
:class:`~tornado_sessions.errors.ConfigurationError` that names it.

- :func:`sessions_of` lists an owner's live sessions as :class:`SessionInfo`
  (a "your devices" page);
- :func:`end_sessions` ends all of them, or all but one (after a password change);
- :func:`end_session` ends one, by its handle (the page's "log out this device");
- ``max_sessions_per_owner`` is enforced by :func:`enforce_cap`, which the commit
  runs after a write that gave a session its owner.

An ended session's record is deleted: its next request, in any process, finds no
record and starts anonymous, and a request still running with it cannot write it
back (every write of a stored session is conditional on the record existing).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigurationError
from .expiry import lifetime
from .ids import OwnerKey, log_id, owner_key, session_handle
from .meta import unpack_meta
from .record import OwnedSession
from .runtime import SessionRuntime
from .startup import open_sessions

if TYPE_CHECKING:
    import tornado.web

    from .session import Session

__all__ = ["SessionInfo", "end_session", "end_sessions", "enforce_cap", "sessions_of"]

log = logging.getLogger("tornado_sessions")


class SessionInfo(NamedTuple):
    """One live session of an owner, as :func:`sessions_of` lists it."""

    handle: str
    """The session's public name (``Session.handle``): show it, send it back to end it."""
    created_at: float
    """Unix time the session began (login)."""
    last_active: float
    """Unix time of its last write or touch (accurate to ``touch_after``)."""
    expires_at: float
    """Unix time it expires unless used again."""
    current: bool
    """Whether it is the session passed as ``current`` (the caller's own)."""


async def sessions_of(
    app: tornado.web.Application, owner: str, *, current: Session | None = None
) -> list[SessionInfo]:
    """The live sessions of ``owner``, most recently active first.

    :param owner: what the application assigned to ``session.owner``.
    :param current: the caller's session, marked ``current=True`` in the list.
    :raises ConfigurationError: the store keeps no owner index.
    :raises StoreError: the store failed.
    """
    runtime = await _runtime(app)
    handle = _handle_of(runtime, current)
    listed = []
    for entry, created_at, last_active in await _listed(runtime, owner):
        public = _public_handle(runtime, entry.key)
        mine = public == handle
        listed.append(SessionInfo(public, created_at, last_active, entry.expires_at, mine))
    return listed


async def end_sessions(
    app: tornado.web.Application, owner: str, *, keep: Session | None = None
) -> int:
    """End every session of ``owner`` ("log out everywhere"), or all but ``keep``.

    Returns how many were ended.  Call it after a password change with
    ``keep=session`` (the user stays logged in here), or without to end them all,
    e.g. when an account is disabled.
    """
    runtime = await _runtime(app)
    kept = keep.key if keep is not None else None
    ended = 0
    for entry, _, _ in await _listed(runtime, owner):
        if entry.key != kept:
            await runtime.call("destroy", runtime.store.destroy(entry.key), None)
            ended += 1
    if ended:
        log.info("ended %d session(s) of one owner", ended)
    return ended


#: ``end_session``'s default: no owner check (``owner=None`` is refused, see there).
_ANYONE: Any = object()


async def end_session(app: tornado.web.Application, handle: str, *, owner: str = _ANYONE) -> bool:
    """End the session named ``handle``; ``True`` if there was one to end.

    :param owner: end it only if it belongs to this owner.  A page that lets a
        user end their own devices must pass it: a handle comes back from the
        browser, so without the check a user could end anyone's session whose
        handle they learned.  Without ``owner``, the handle must name a session
        of a store with ``hash_ids`` (the default), where it is the store key.
    """
    runtime = await _runtime(app)
    if owner is None:
        raise ValueError(
            "end_session(..., owner=None): no owner to check the handle against (an "
            "anonymous visitor?); refusing rather than ending any session it names"
        )
    if owner is not _ANYONE:
        for entry, _, _ in await _listed(runtime, owner):
            if _public_handle(runtime, entry.key) == handle:
                await runtime.call("destroy", runtime.store.destroy(entry.key), None)
                return True
        return False
    if not runtime.options.hash_ids:
        raise ConfigurationError(
            "end_session(app, handle) without owner= needs hash_ids=True (the handle is "
            "then the store key); pass owner= to find the session in the owner's index"
        )
    if len(handle) != 64 or not all(c in "0123456789abcdef" for c in handle):
        return False
    found = await runtime.call("load", runtime.store.load(handle), None)
    if found is None:
        return False
    await runtime.call("destroy", runtime.store.destroy(handle), None)
    return True


async def enforce_cap(runtime: SessionRuntime, session: Session) -> None:
    """Past ``max_sessions_per_owner``, end the owner's least recently active sessions.

    Every process ranks the owner's sessions the same way (last activity, then
    store key), so concurrent logins agree on which survive, and the cap holds
    once they are all done, even if that ends the session that ran the check.
    """
    cap = runtime.options.max_sessions_per_owner
    if cap is None or session.owner is None:
        return
    listed = await _index(runtime, session.owner)
    if len(listed) <= cap:
        return
    ranked = sorted(listed, key=lambda item: (item[2], item[0].key), reverse=True)
    for entry, _, _ in ranked[cap:]:
        await runtime.call("destroy", runtime.store.destroy(entry.key), None)
        if entry.key == session.key:
            session.found_gone()
            log.info("session %s ended: its owner has more recent sessions", log_id(session.id))


async def _runtime(app: tornado.web.Application) -> SessionRuntime:
    return await open_sessions(app, probe=False)


async def _listed(
    runtime: SessionRuntime, owner: str
) -> list[tuple[OwnedSession, float, float]]:
    if not isinstance(owner, str) or not owner:
        raise ValueError(f"an owner is a non-empty string (a user id), not {owner!r:.60}")
    key = owner if isinstance(owner, OwnerKey) else owner_key(owner, runtime.options.hash_ids)
    listed = await _index(runtime, key)
    listed.sort(key=lambda item: item[2], reverse=True)
    return listed


async def _index(runtime: SessionRuntime, key: str) -> list[tuple[OwnedSession, float, float]]:
    """The owner's live sessions with their creation and last-activity times."""
    store = runtime.store
    if "owner_sessions" not in store.capabilities:
        raise ConfigurationError(
            f"{type(store).__name__} keeps no index of sessions by owner "
            "(Store.owner_sessions), so a user's sessions cannot be listed, ended or "
            "capped without scanning the whole store; use a store that has one "
            "(memory, Redis, MongoDB, PostgreSQL, SQLite)"
        )
    now = time.time()
    listed = []
    for entry in await runtime.call("owner_sessions", store.owner_sessions(key), None):
        if entry.expires_at <= now:
            continue
        try:
            meta = unpack_meta(entry.meta, now)
        except ValueError:
            continue
        idle = lifetime(meta.max_age, runtime.options.max_age)
        last_active = min(now, max(meta.created_at, entry.expires_at - idle))
        listed.append((entry, meta.created_at, last_active))
    return listed


def _public_handle(runtime: SessionRuntime, key: str) -> str:
    """The handle of the session stored under ``key``.

    With ``hash_ids`` the store key is SHA-256 of the id, which is the handle.
    Without it the store key is the id itself, a secret, so it is hashed.
    """
    return key if runtime.options.hash_ids else session_handle(key)


def _handle_of(runtime: SessionRuntime, session: Session | None) -> str | None:
    return None if session is None else _public_handle(runtime, session.key)
