"""Id renewal (``rotate_after``): a long-lived session gets a new id, with a grace period.

OWASP's "renewal timeout": an id that lives for weeks is worth more to whoever
steals it.  With ``rotate_after`` set, the first request that loads a session whose
id is older than that gives it a new id, keeping its data, and the response sends
the new cookie.  Requests already in flight (other tabs, AJAX) still carry the old
cookie, so the old id keeps working for ``rotate_grace`` seconds: its record becomes
a *forwarding stub* that points to the new id, and a request that finds it works on
the new session (and gets the new cookie too).  After the grace the stub expires and
the old id is dead.

The stub holds one field, :data:`FORWARD_FIELD`, whose value is the new id masked
with a keystream derived from the *old* id (SHAKE-256): only a request that holds
the old id, that is, the old cookie, can read where it points; a store dump cannot
(store keys are hashes of ids).  The stub has no owner, so it is never listed among
a user's sessions.

Two requests that rotate the same session at the same moment (in two processes)
each make a new session; the one whose stub lands last wins the old id, and the
other new session lives on until it expires unused.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from .ids import is_valid_id, log_id, store_key
from .meta import pack_meta
from .record import Changes, Record
from .record_checks import read_record
from .runtime import SessionRuntime
from .session import LoadedRecord

__all__ = ["FORWARD_FIELD", "due", "follow", "forward_to", "rotate"]

log = logging.getLogger("tornado_sessions")

#: The one field of a forwarding stub (no application key looks like it).
FORWARD_FIELD = "\x00tornado_sessions.forward"
_LABEL = b"tornado-sessions forward\x00"


def _mask(old_id: str, data: bytes) -> bytes:
    stream = hashlib.shake_256(_LABEL + old_id.encode()).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def forward_to(old_id: str, fields: Mapping[str, bytes]) -> str | None:
    """The new id a forwarding stub points to, or ``None`` if ``fields`` is not a stub.

    A stub that does not unmask to a well-formed id (tampered) points nowhere: the
    caller treats the session as gone.
    """
    if len(fields) != 1 or FORWARD_FIELD not in fields:
        return None
    try:
        new_id = _mask(old_id, fields[FORWARD_FIELD]).decode("ascii")
    except UnicodeDecodeError:
        return ""
    return new_id if is_valid_id(new_id) else ""


def due(runtime: SessionRuntime, record: LoadedRecord, now: float) -> bool:
    """Whether the session's id is older than ``rotate_after``."""
    after = runtime.options.rotate_after
    return after is not None and now - record.meta.issued_at >= after


async def follow(
    runtime: SessionRuntime, handler: Any, new_id: str, now: float
) -> tuple[str, str, LoadedRecord] | None:
    """The session a stub points to: ``(id, store key, record)``; ``None`` if it is gone."""
    key = store_key(new_id, runtime.options.hash_ids)
    record = await read_record(runtime, key, handler, now, session_id=new_id)
    if record is None or forward_to(new_id, record.fields) is not None:
        return None  # ended meanwhile, or a stub again: never follow twice
    return new_id, key, record


async def rotate(
    runtime: SessionRuntime,
    handler: Any,
    old_id: str,
    old_key: str,
    record: LoadedRecord,
    now: float,
) -> tuple[str, str, LoadedRecord] | None:
    """Move the session to a new id and leave a stub behind; ``None`` if it was ended meanwhile.

    Two store calls: the new record (``save``), then the stub, through the
    conditional ``save_changes`` so that a session a logout destroyed meanwhile is
    not revived (the new record is then deleted again).
    """
    store = runtime.store
    new_id, new_key = runtime.tokens.new()
    meta = record.meta._replace(issued_at=now)
    meta_bytes = pack_meta(meta)
    fields = runtime.codec.rebind(old_key, new_key, record.fields)
    renewed = Record(fields, meta_bytes, record.expires_at, meta.owner)
    await runtime.call("save", store.save(new_key, renewed), handler)
    stub = Changes(
        {FORWARD_FIELD: _mask(old_id, new_id.encode("ascii"))}, frozenset(record.fields), None
    )
    grace_end = min(record.expires_at, now + runtime.options.rotate_grace)
    stubbed = await runtime.call(
        "save_changes", store.save_changes(old_key, stub, record.meta_bytes, grace_end), handler
    )
    if not stubbed:
        await runtime.call("destroy", store.destroy(new_key), handler)
        return None
    log.debug("session %s renewed as %s", log_id(old_id), log_id(new_id))
    return new_id, new_key, LoadedRecord(fields, meta, meta_bytes, record.expires_at)
