"""Reading one record from the store and deciding whether it may become a session.

What a store returns is not trusted: someone who can write to the store (or a
bug in a store) must not be able to crash, stall or bloat the process.  So
:func:`check_record`, before anything is decoded:

1. refuses anything that is not a :class:`~tornado_sessions.record.Record` of the
   right types (``str`` names, ``bytes`` values and meta, a finite expiry);
2. measures it as :func:`~tornado_sessions.record.record_size` does, against
   ``max_record_bytes``, and keeps the fields' part: the commit measures a write
   from it (:func:`~tornado_sessions.record.size_after`), the same number;
3. refuses an expired record (the store should not have returned it);
4. reads the meta (bounded in size before it is unpacked) and refuses a session
   past its ``absolute_timeout``.

:func:`read_record` does the store call and acts on the verdict: a corrupt record
(including one the store itself reports with
:class:`~tornado_sessions.errors.CorruptRecordError`) is deleted and logged, an
expired one deleted; either way the caller gets ``None`` and starts a fresh
session.  Only a failure of the store itself (a :class:`StoreError`) propagates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from .errors import CorruptRecordError
from .ids import log_id
from .meta import unpack_meta
from .record import Record
from .runtime import SessionRuntime
from .session import LoadedRecord

__all__ = ["Expired", "check_record", "read_record"]

log = logging.getLogger("tornado_sessions")


class Expired(Exception):
    """The record is past its expiry or its ``absolute_timeout``."""


def check_record(
    record: object, *, now: float, max_bytes: int, absolute_timeout: float | None
) -> LoadedRecord:
    """``record`` checked and its meta read; see the module docstring for the order.

    :raises CorruptRecordError: not a valid record.
    :raises Expired: a valid record whose time is up.
    """
    if not isinstance(record, Record):
        raise CorruptRecordError(f"the store returned {type(record).__name__}, not a Record")
    fields, meta_bytes, expires_at = record.fields, record.meta, record.expires_at
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise CorruptRecordError("record fields of the wrong type")
    if type(meta_bytes) is not bytes and not isinstance(meta_bytes, bytes):
        raise CorruptRecordError("record meta of the wrong type")
    # record_size(fields, meta) <= max_bytes, measured field by field so that a huge
    # record is refused without being walked to its end; ``size`` is the fields' part.
    room = max_bytes - len(meta_bytes)
    size = 0
    for name, value in fields.items():
        if type(name) is not str or (type(value) is not bytes and not isinstance(value, bytes)):
            raise CorruptRecordError("record field of the wrong type")
        size += len(value) + (
            len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass"))
        )
        if size > room:
            break
    if size > room:
        raise CorruptRecordError(f"record larger than max_record_bytes={max_bytes}")
    if type(expires_at) not in (float, int) or not math.isfinite(expires_at):
        raise CorruptRecordError("record expiry is not a finite number")
    if expires_at <= now:
        raise Expired("expired")
    try:
        meta = unpack_meta(meta_bytes, now)
    except ValueError as exc:
        raise CorruptRecordError(str(exc)) from None
    if absolute_timeout is not None and meta.created_at + absolute_timeout <= now:
        raise Expired("past absolute_timeout")
    return LoadedRecord(fields, meta, meta_bytes, float(expires_at), size)


async def read_record(
    runtime: SessionRuntime, key: str, handler: Any, now: float, *, session_id: str
) -> LoadedRecord | None:
    """The checked record under ``key``; ``None`` if absent, and after deleting a bad one."""
    options = runtime.options
    try:
        record = await runtime.call("load", runtime.store.load(key), handler)
        if record is None:
            return None
        return check_record(
            record,
            now=now,
            max_bytes=options.max_record_bytes,
            absolute_timeout=options.absolute_timeout,
        )
    except Expired:
        pass
    except CorruptRecordError as exc:
        log.warning("corrupt session record %s deleted: %s", log_id(session_id), exc)
        runtime.observers.notify(
            "tornado_sessions_cookie_rejected", reason="corrupt_record", handler=handler
        )
    await runtime.call("destroy", runtime.store.destroy(key), handler)
    return None
