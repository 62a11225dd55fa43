"""What a store keeps for one session: :class:`Record`, and :class:`Changes` for delta writes.

A store never sees session values as Python objects.  It sees, for one store key:

- ``fields``: each session key mapped to that value's serialized bytes.  Keeping
  keys apart is what lets a store write only the keys a request changed;
- ``meta``: a few bytes the core owns (creation time, per-session lifetime).  A
  store saves them and gives them back untouched;
- ``expires_at``: the Unix time (seconds, float) after which the record must no
  longer be returned.  Stores map it to their own expiry (a TTL, a date column);
- ``owner``: who the session belongs to (``Session.owner``, already hashed by the
  core when ``hash_ids`` is on), or ``None``.  Only a store that offers the
  ``owner_sessions`` capability indexes it; others ignore it.

:func:`record_size` is the one definition of a record's size, which
``SessionOptions.max_record_bytes`` bounds: the same function is applied to what
a request is about to write and to what a load returns, before anything of it is
decoded.  :func:`size_after` gives the same number for a record after a delta
from the size before it, measuring only the fields the delta names.

Both classes are immutable; a store may keep the objects it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

__all__ = ["Changes", "OwnedSession", "Record", "apply_changes", "record_size", "size_after"]

_EMPTY: Mapping[str, bytes] = MappingProxyType({})


def name_size(name: str) -> int:
    """Bytes of a field's name, UTF-8 encoded (lone surrogates as they are stored)."""
    return len(name) if name.isascii() else len(name.encode("utf-8", "surrogatepass"))


def record_size(fields: Mapping[str, bytes], meta: bytes) -> int:
    """Bytes of a record: its meta, plus each field's UTF-8 name and value.

    Computed without decoding anything, so it can be checked before a single
    byte of a loaded record is interpreted.
    """
    size = len(meta)
    for name, value in fields.items():
        size += name_size(name) + len(value)
    return size


def size_after(fields: Mapping[str, bytes], fields_size: int, changes: Changes) -> int:
    """``record_size(apply_changes(fields, changes), b"")``, given ``fields_size``, the
    ``record_size(fields, b"")`` already known: only the names ``changes`` holds are measured.
    """
    size = fields_size
    for name, value in changes.updated.items():
        old = fields.get(name)
        if old is None:  # a new field: its name counts from now on
            size += name_size(name)
        else:  # a replaced field: the same name, other bytes
            size -= len(old)
        size += len(value)
    for name in changes.deleted:
        old = fields.get(name)
        if old is not None:
            size -= name_size(name) + len(old)
    return size


@dataclass(frozen=True, slots=True)
class Record:
    """One stored session.

    ``fields`` must be treated as read-only by whoever holds the record.
    """

    fields: Mapping[str, bytes]
    meta: bytes
    expires_at: float
    owner: str | None = None

    def size(self) -> int:
        """:func:`record_size` of this record."""
        return record_size(self.fields, self.meta)


@dataclass(frozen=True, slots=True)
class Changes:
    """The keys one request set and deleted, for stores that write deltas.

    ``updated`` holds the new bytes of every key that was set (or mutated in
    place); ``deleted`` the keys that were removed.  A name is never in both: the
    constructor refuses it, so a store never has to decide which one wins.
    ``owner`` is the session's owner after the write (whether or not it changed),
    for stores that index owners.
    """

    updated: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY)
    deleted: frozenset[str] = frozenset()
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.deleted and not self.deleted.isdisjoint(self.updated):
            both = sorted(self.deleted.intersection(self.updated))
            raise ValueError(f"Changes names {both!r} as both updated and deleted")

    def __bool__(self) -> bool:
        return bool(self.updated or self.deleted)


#: The empty delta: what ``Session.changes()`` returns when nothing changed, so the core
#: tells "no changes" by identity (any other ``Changes`` it gets holds a key).
NO_CHANGES = Changes()


class OwnedSession(NamedTuple):
    """One live session of an owner, as ``Store.owner_sessions`` lists it."""

    key: str
    meta: bytes
    expires_at: float


def apply_changes(fields: Mapping[str, bytes], changes: Changes) -> dict[str, bytes]:
    """A copy of ``fields`` with ``changes`` applied: what a delta write leaves stored."""
    merged = dict(fields)
    merged.update(changes.updated)
    for name in changes.deleted:
        merged.pop(name, None)
    return merged
