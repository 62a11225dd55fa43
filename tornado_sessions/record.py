"""What a store keeps for one session: :class:`Record`, and :class:`Changes` for delta writes.

A store never sees session values as Python objects.  It sees, for one store key:

- ``fields``: each session key mapped to that value's serialized bytes.  Keeping
  keys apart is what lets a store write only the keys a request changed;
- ``meta``: a few bytes the core owns (creation time, per-session lifetime).  A
  store saves them and gives them back untouched;
- ``expires_at``: the Unix time (seconds, float) after which the record must no
  longer be returned.  Stores map it to their own expiry (a TTL, a date field).

Both classes are immutable; a store may keep the objects it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Changes", "Record"]

_EMPTY: Mapping[str, bytes] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Record:
    """One stored session.

    ``fields`` must be treated as read-only by whoever holds the record.
    """

    fields: Mapping[str, bytes]
    meta: bytes
    expires_at: float

    def size(self) -> int:
        """Bytes of payload: keys, values and meta (what a store writes, roughly)."""
        return len(self.meta) + sum(len(k) + len(v) for k, v in self.fields.items())


@dataclass(frozen=True, slots=True)
class Changes:
    """The keys one request set and deleted, for stores that write deltas.

    ``updated`` holds the new bytes of every key that was set (or mutated in
    place); ``deleted`` the keys that were removed.  A key is never in both.
    """

    updated: Mapping[str, bytes] = field(default_factory=lambda: _EMPTY)
    deleted: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.updated or self.deleted)
