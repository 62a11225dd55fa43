"""The load corridor: cookie -> verified id -> one store read -> a session.

:func:`load_session` is all of it, top to bottom:

1. read our cookie from the request's ``Cookie`` headers.  None: a fresh session,
   no store call;
2. more than one (cookie tossing, or a stale copy under another path): neither is
   trusted, so a fresh session; the validly signed ones are remembered so that a
   ``destroy()`` (logout) deletes their records too, and the response clears the
   copies a sibling domain may have set;
3. verify the signature (cached for values seen before).  Bad: a fresh session,
   no store call;
4. read and check the record (:mod:`tornado_sessions.record_checks`).  Absent, expired
   or corrupt: a fresh session;
5. no record, but a forwarding stub (an id renewed by ``rotate_after``, the cookie
   still in its grace): the session under the new id; an id due for renewal is
   renewed now (:mod:`tornado_sessions.rotation`); either way the response sends
   the new cookie;
6. otherwise the stored session, its values still undecoded.

A fresh session gets a new random id: an id the client chose is never adopted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .cookies import read_cookie
from .lifecycle import Lifecycle
from .record_checks import read_record
from .rotation import due, forwarded, rotate
from .runtime import SessionRuntime
from .session import Session

__all__ = ["load_session"]

log = logging.getLogger("tornado_sessions")


async def load_session(runtime: SessionRuntime, handler: Any, *, renew: bool = True) -> Session:
    """The session of ``handler``'s request; see the module docstring.

    ``renew=False`` (the response's headers have gone out, so no new cookie could
    reach the browser) leaves an id due for renewal as it is, for the next request.
    """
    io = Lifecycle(runtime)
    now = time.time()
    values = read_cookie(handler.request.headers, runtime.options.name)
    if not values:
        return Session(io, handler, *runtime.tokens.new(), now=now)
    if len(values) > 1:
        return _refuse_duplicates(runtime, io, handler, values, now)
    token = runtime.tokens.verify(values[0])
    if token is None:
        log.debug("session cookie with a bad signature ignored")
        runtime.observers.notify(
            "tornado_sessions_cookie_rejected", reason="bad_signature", handler=handler
        )
        return Session(io, handler, *runtime.tokens.new(), now=now)
    session_id, key, current = token
    record = await read_record(runtime, key, handler, now, session_id=session_id)
    resign = not current
    moved = None
    if record is None:  # perhaps renewed by rotate_after, and this cookie in its grace
        moved = await forwarded(runtime, handler, session_id, key, now)
        if moved is None:
            return Session(io, handler, *runtime.tokens.new(), now=now)
    elif renew and due(runtime, record, now):
        moved = await rotate(runtime, handler, session_id, key, record, now)
        if moved is None:
            return Session(io, handler, *runtime.tokens.new(), now=now)
    if moved is not None:
        (session_id, key, record), resign = moved, True
    session = Session(io, handler, session_id, key, now=now, record=record, resign=resign)
    runtime.observers.notify("tornado_sessions_session_loaded", session=session, handler=handler)
    return session


def _refuse_duplicates(
    runtime: SessionRuntime, io: Lifecycle, handler: Any, values: tuple[str, ...], now: float
) -> Session:
    log.warning(
        "request carries the session cookie %r %d times (a cookie tossed by a sibling "
        "domain?); treating it as carrying none",
        runtime.options.name,
        len(values),
    )
    runtime.observers.notify(
        "tornado_sessions_cookie_rejected", reason="duplicate", handler=handler
    )
    keys = []
    for value in values:
        token = runtime.tokens.verify(value)
        if token is not None and token.key not in keys:
            keys.append(token.key)
    return Session(
        io, handler, *runtime.tokens.new(), now=now, duplicates=True, duplicate_keys=tuple(keys)
    )
