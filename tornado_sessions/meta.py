"""The core's own bytes in every record: when a session began, its lifetime, its owner.

A store keeps ``Record.meta`` untouched; only this module reads or writes it.
The format is a short msgpack array whose first item is a version number:

=======  =======================================================================
version  items after the version
=======  =======================================================================
1        created_at, max_age                        (written by 0.1.0)
2        created_at, max_age, owner, issued_at
=======  =======================================================================

- ``created_at``: Unix time the session began (``absolute_timeout`` counts from it);
- ``max_age``: the session's own lifetime: ``None`` for the options' ``max_age``,
  ``False`` for a browser-session cookie, else seconds (``set_max_age``);
- ``owner``: the owner key (see ``Session.owner``), or ``None``;
- ``issued_at``: Unix time the current id was issued (``rotate_after`` counts from it).

:func:`unpack_meta` refuses, before unpacking, more than :data:`MAX_META_BYTES`
bytes, and after it anything an honest write cannot produce, so a store writer
cannot make a load allocate or compute much with a planted meta.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import msgpack

from .ids import OwnerKey

__all__ = ["MAX_LIFETIME", "MAX_META_BYTES", "Meta", "pack_meta", "unpack_meta"]

#: Longest lifetime any duration may have: ten years, in seconds.
MAX_LIFETIME = 10 * 365 * 86400.0
#: Meta longer than this is corrupt (an owner key is at most 128 characters).
MAX_META_BYTES = 512
#: How far in the future a stored time may lie (clock skew between servers).
CLOCK_SKEW = 300.0
_MAX_OWNER_LENGTH = 128


class Meta(NamedTuple):
    """What the meta bytes say; see the module docstring."""

    created_at: float
    max_age: float | bool | None = None
    owner: OwnerKey | None = None
    issued_at: float = 0.0


def pack_meta(meta: Meta) -> bytes:
    """The meta bytes of ``meta`` (always the latest version)."""
    packed: bytes = msgpack.packb(
        (2, meta.created_at, meta.max_age, meta.owner, meta.issued_at or meta.created_at)
    )
    return packed


#: Meta bytes read before, and what they said.  A session's meta stays the same bytes
#: from write to write, so most loads find it here.  A verdict cannot go stale: the
#: only time-dependent check refuses times in the future, and time only moves on.
_read: dict[bytes, Meta] = {}
_READ_CACHE_SIZE = 10_000


def unpack_meta(data: bytes, now: float) -> Meta:
    """Read meta bytes; :class:`ValueError` for anything no honest write produces."""
    meta = _read.get(data)
    if meta is None:
        meta = _unpack(data, now)
        if len(_read) >= _READ_CACHE_SIZE:
            _read.clear()
        _read[data] = meta
    return meta


def _unpack(data: bytes, now: float) -> Meta:
    if len(data) > MAX_META_BYTES:
        raise ValueError(f"session meta of {len(data)} bytes (at most {MAX_META_BYTES})")
    try:
        items = msgpack.unpackb(data, use_list=False)
    except Exception as exc:  # msgpack raises several types for malformed input
        raise ValueError(f"session meta is not msgpack: {exc}") from None
    if type(items) is not tuple or not items:
        raise ValueError("session meta is not a versioned array")
    version = items[0]
    if version == 1 and len(items) == 3:
        created_at, max_age = items[1:]
        owner, issued_at = None, created_at
    elif version == 2 and len(items) == 5:
        created_at, max_age, owner, issued_at = items[1:]
    else:
        raise ValueError("unknown session meta format")
    if not (_is_time(created_at, now) and _is_time(issued_at, now)):
        raise ValueError("session meta has an impossible time")
    if max_age is not None and max_age is not False and not _is_lifetime(max_age):
        raise ValueError("session meta has an impossible lifetime")
    if owner is not None and (type(owner) is not str or not 0 < len(owner) <= _MAX_OWNER_LENGTH):
        raise ValueError("session meta has an impossible owner")
    owner_key = None if owner is None else OwnerKey(owner)  # cached with the verdict
    return Meta(float(created_at), max_age, owner_key, float(issued_at))


def _is_time(value: object, now: float) -> bool:
    return (
        type(value) in (int, float)
        and math.isfinite(value)  # type: ignore[arg-type]
        and 0 < value <= now + CLOCK_SKEW  # type: ignore[operator]
    )


def _is_lifetime(value: object) -> bool:
    return type(value) in (int, float) and 0 < value <= MAX_LIFETIME  # type: ignore[operator]
