"""The commit corridor: decide, write, then the cookie.  Once per response, before the headers go.

A commit runs at the end of a response (and at ``save()``, and at the first
``flush()`` of a streamed one), in three steps:

1. :func:`plan_commit` gathers the session's :class:`~tornado_sessions.decide.Facts`
   (serializing what changed, which is where an unserializable value fails, before
   anything is written) and asks :func:`~tornado_sessions.decide.decide` for the
   plan.  With no store call to make, the cookie decision is recorded at once and
   the commit is over: a read within ``touch_after`` costs no task and no await;
2. :func:`run_write` makes the one store call and records its outcome in the
   session: written, or *gone* when a conditional write found the record missing
   (a logout elsewhere), after which nothing of this request is written;
3. :func:`cookie_headers` turns the session's cookie decision into ``Set-Cookie``
   values when the response's headers are about to go.

:func:`commit` is steps 1 and 2 for callers that can await (``save()``); the mixin
runs them separately only so that a commit without a store call stays synchronous.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from .decide import (
    CLEAR,
    CREATE,
    DESTROY,
    NEW,
    NO_WRITE,
    SET,
    STORED,
    TOUCH,
    UPDATE,
    UPDATE_ALL,
    Cookie,
    Write,
    decide,
)
from .errors import SerializationError
from .expiry import expiry, lifetime, persistent
from .ids import log_id
from .owners import enforce_cap
from .record import NO_CHANGES, Changes, Record, apply_changes, size_after
from .rotation import forwarded
from .runtime import SessionRuntime
from .session import Session

__all__ = ["PendingWrite", "commit", "cookie_headers", "plan_commit", "run_write"]

log = logging.getLogger("tornado_sessions")


class PendingWrite(NamedTuple):
    """A planned store call, ready to run."""

    session: Session
    write: Write
    cookie: Cookie
    expires_at: float
    #: what the record holds once the write succeeds
    fields: Mapping[str, bytes]
    #: the delta for ``save_changes``
    changes: Changes
    meta: bytes
    #: ``record_size(fields, b"")``, when computed (for a create or an update)
    fields_size: int | None = None


async def commit(runtime: SessionRuntime, session: Session, *, force: bool = False) -> None:
    """Decide and, if needed, write: the whole commit, for callers that can await."""
    pending = plan_commit(runtime, session, force=force)
    if pending is not None:
        await run_write(runtime, pending)


def plan_commit(
    runtime: SessionRuntime, session: Session, *, force: bool = False
) -> PendingWrite | None:
    """Decide what to write; ``None`` (cookie decision recorded) when nothing is.

    :raises SerializationError: a value cannot be serialized, or the session
        would exceed ``max_record_bytes``; nothing has been written.
    """
    stage = session.stage
    changes = session.changes() if stage is NEW or stage is STORED else NO_CHANGES
    options = runtime.options
    own_max_age = session.own_max_age
    next_expiry = expiry(
        time.time(),
        lifetime(own_max_age, options.max_age),
        session.created_at,
        options.absolute_timeout,
    )
    facts = session.facts(
        changes,
        forced=force,
        persistent=persistent(own_max_age, options.browser_session_cookie),
        next_expiry=next_expiry,
    )
    write, cookie = decide(facts, runtime.rules)
    if write is NO_WRITE:
        session.decide_cookie(cookie)
        return None
    fields = session.loaded_fields
    meta = session.meta_bytes()
    size = None
    if write is CREATE or write is UPDATE or write is UPDATE_ALL:
        size = session.loaded_size
        if changes is not NO_CHANGES:
            size = size_after(fields, size, changes)
            fields = apply_changes(fields, changes)
        _check_size(size + len(meta), changes, options.max_record_bytes)
        if write is UPDATE_ALL:
            changes = Changes(fields, changes.deleted, session.owner)
        elif changes is NO_CHANGES and session.owner is not None:
            changes = Changes(owner=session.owner)  # the owner rides with every delta write
    return PendingWrite(session, write, cookie, next_expiry, fields, changes, meta, size)


async def run_write(runtime: SessionRuntime, pending: PendingWrite) -> None:
    """Make the planned store call and record its outcome in the session.

    :raises StoreError: the store failed; the session is as before the call.
    """
    session, write, cookie, expires_at, fields, changes, meta, fields_size = pending
    store, handler, key = runtime.store, session.handler, session.key
    if write is DESTROY:
        await runtime.call("destroy", store.destroy(key), handler)
        session.removed()
        runtime.observers.notify(
            "tornado_sessions_session_destroyed", session=session, handler=handler
        )
        return
    if write is CREATE:
        record = Record(fields, meta, expires_at, session.owner)
        await runtime.call("save", store.save(key, record), handler)
        applied = True
    elif write is TOUCH:
        applied = await runtime.call("touch", store.touch(key, expires_at), handler)
    else:
        applied = await runtime.call(
            "save_changes",
            store.save_changes(key, changes, meta, expires_at),
            handler,
        )
    if not applied and session.stage is STORED:
        # Renewed by rotate_after while this request ran? Then write there instead.
        moved = await forwarded(runtime, handler, session.id, key, time.time())
        if moved is not None:
            new_id, new_key = moved[0], moved[1]
            rebound = runtime.codec.rebind(key, new_key, session.loaded_fields)
            session.renamed(new_id, new_key, rebound)
            retry = plan_commit(runtime, session, force=write is UPDATE_ALL)
            if retry is not None:
                await run_write(runtime, retry)
            return
    if not applied:
        log.info(
            "session %s was destroyed elsewhere while this request ran; "
            "nothing of this request is written",
            log_id(session.id),
        )
        session.found_gone()
        return
    created = session.stage is NEW
    new_owner = session.owner_changed
    session.wrote(fields, expires_at, size=fields_size)
    session.decide_cookie(cookie)
    if write is TOUCH:
        runtime.observers.notify(
            "tornado_sessions_session_touched", session=session, handler=handler
        )
    else:
        if created:
            runtime.observers.notify(
                "tornado_sessions_session_created", session=session, handler=handler
            )
        runtime.observers.notify("tornado_sessions_session_saved", session=session, handler=handler)
    if new_owner and runtime.options.max_sessions_per_owner is not None:
        await enforce_cap(runtime, session)


def cookie_headers(runtime: SessionRuntime, session: Session, request: Any) -> list[str]:
    """The ``Set-Cookie`` values the response carries for ``session`` (usually none).

    Marks the cookie decision as sent.
    """
    cookies = runtime.cookies
    headers = cookies.clear_tossed(request) if session.duplicate_cookies else []
    decision = session.pending_cookie
    if decision is SET:
        max_age = None
        if persistent(session.own_max_age, runtime.options.browser_session_cookie):
            max_age = int(session.expires_at - time.time())
        headers.append(cookies.set(request, runtime.tokens.sign(session.id), max_age=max_age))
    elif decision is CLEAR:
        headers.append(cookies.clear(request))
    session.cookie_sent()
    return headers


def _check_size(size: int, changes: Changes, limit: int) -> None:
    """Refuse a record of ``size`` bytes (its :func:`record_size`) over ``limit``."""
    if size > limit:
        updated = changes.updated
        largest = max(updated, key=lambda name: len(updated[name])) if updated else None
        culprit = f" (largest change: key {largest!r})" if largest is not None else ""
        raise SerializationError(
            f"the session would be {size} bytes, over max_record_bytes={limit}{culprit}",
            key=largest,
        )
