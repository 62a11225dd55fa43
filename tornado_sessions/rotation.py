"""Id renewal (``rotate_after``): a long-lived session gets a new id, with a grace period.

OWASP's "renewal timeout": an id that lives for weeks is worth more to whoever
steals it.  With ``rotate_after`` set, the first request that loads a session whose
id is older than that gives it a new id, keeping its data, and the response sends
the new cookie.  The old record is deleted, and a *forwarding stub* is left under a
key derived from the old one (:func:`stub_key`) for ``rotate_grace`` seconds, so
that requests still carrying the old cookie (other tabs, AJAX) are led to the
renewed session and get the new cookie:

- a request that *loads* with the old cookie finds no record, finds the stub, and
  loads the renewed session (:func:`forwarded`);
- a request that had loaded the session *before* the renewal finds, when it writes,
  that the old record is gone; the commit then looks for the stub and makes the
  write on the renewed session instead (so nothing it was told it saved is lost);
- a logout by such a request ends the renewed session too.

After the grace the stub expires and the old id is dead.  The stub's one field,
:data:`FORWARD_FIELD`, holds the new id masked with a keystream derived from the
*old* id (SHAKE-256), so only a holder of the old cookie can follow it; a store dump
cannot.  The stub has no owner and is never listed among a user's sessions.

Two requests that renew the same session at the same moment in two processes each
make a new session; the one whose stub lands last wins the old id, and the other
new session stays reachable only by the cookie its response carried.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from .errors import CorruptRecordError
from .ids import is_valid_id, log_id, store_key
from .meta import pack_meta
from .record import Record
from .record_checks import read_record
from .runtime import SessionRuntime
from .session import LoadedRecord

__all__ = ["FORWARD_FIELD", "due", "end_forwarded", "forwarded", "rotate", "stub_key"]

log = logging.getLogger("tornado_sessions")

#: The one field of a forwarding stub (no application key looks like it).
FORWARD_FIELD = "\x00tornado_sessions.forward"
_LABEL = b"tornado-sessions forward\x00"


def stub_key(old_key: str) -> str:
    """The store key of the forwarding stub of the session stored under ``old_key``."""
    return hashlib.sha256(_LABEL + old_key.encode()).hexdigest()


def _mask(old_id: str, data: bytes) -> bytes:
    stream = hashlib.shake_256(_LABEL + old_id.encode()).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _unmask(old_id: str, fields: Mapping[str, bytes]) -> str | None:
    data = fields.get(FORWARD_FIELD)
    if data is None or len(fields) != 1:
        return None
    try:
        new_id = _mask(old_id, data).decode("ascii")
    except UnicodeDecodeError:
        return None
    return new_id if is_valid_id(new_id) else None


def due(runtime: SessionRuntime, record: LoadedRecord, now: float) -> bool:
    """Whether the session's id is older than ``rotate_after``."""
    after = runtime.options.rotate_after
    return after is not None and now - record.meta.issued_at >= after


async def forwarded(
    runtime: SessionRuntime, handler: Any, old_id: str, old_key: str, now: float
) -> tuple[str, str, LoadedRecord] | None:
    """The renewed session a stub for ``old_key`` leads to: ``(id, key, record)``, or ``None``.

    ``None`` when renewal is off, when there is no live stub (never renewed, or the
    grace is over), or when the renewed session has ended meanwhile.
    """
    if runtime.options.rotate_after is None:
        return None
    try:
        stub = await runtime.call("load", runtime.store.load(stub_key(old_key)), handler)
    except CorruptRecordError:
        return None
    if stub is None or stub.expires_at <= now:
        return None
    new_id = _unmask(old_id, stub.fields)
    if new_id is None:
        return None
    key = store_key(new_id, runtime.options.hash_ids)
    record = await read_record(runtime, key, handler, now, session_id=new_id)
    return None if record is None else (new_id, key, record)


async def end_forwarded(runtime: SessionRuntime, handler: Any, old_id: str, old_key: str) -> None:
    """A logout with an old cookie: end the renewed session its stub leads to, and the stub."""
    if runtime.options.rotate_after is None:
        return
    moved = await forwarded(runtime, handler, old_id, old_key, time.time())
    if moved is not None:
        await runtime.call("destroy", runtime.store.destroy(moved[1]), handler)
    await runtime.call("destroy", runtime.store.destroy(stub_key(old_key)), handler)


async def rotate(
    runtime: SessionRuntime,
    handler: Any,
    old_id: str,
    old_key: str,
    record: LoadedRecord,
    now: float,
) -> tuple[str, str, LoadedRecord] | None:
    """Move the session to a new id; ``None`` if it was ended meanwhile.

    Four store calls, once per ``rotate_after``: the new record, the stub, a
    conditional touch of the old record (a logout that deleted it meanwhile wins:
    the new record and the stub are deleted again), and the old record's deletion.
    """
    store = runtime.store
    new_id, new_key = runtime.tokens.new()
    meta = record.meta._replace(issued_at=now)
    meta_bytes = pack_meta(meta)
    fields = runtime.codec.rebind(old_key, new_key, record.fields)
    renewed = Record(fields, meta_bytes, record.expires_at, meta.owner)
    await runtime.call("save", store.save(new_key, renewed), handler)
    grace_end = min(record.expires_at, now + runtime.options.rotate_grace)
    pointer = {FORWARD_FIELD: _mask(old_id, new_id.encode("ascii"))}
    stub = Record(pointer, record.meta_bytes, grace_end)
    await runtime.call("save", store.save(stub_key(old_key), stub), handler)
    alive = await runtime.call("touch", store.touch(old_key, record.expires_at), handler)
    if not alive:
        await runtime.call("destroy", store.destroy(new_key), handler)
        await runtime.call("destroy", store.destroy(stub_key(old_key)), handler)
        return None
    await runtime.call("destroy", store.destroy(old_key), handler)
    log.debug("session %s renewed as %s", log_id(old_id), log_id(new_id))
    return new_id, new_key, LoadedRecord(fields, meta, meta_bytes, record.expires_at)
