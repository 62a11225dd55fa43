"""Session contents of a chosen size: what a seeded benchmark session holds.

A payload looks like what applications keep in a session: a user id, a short
list of roles, a CSRF token, a counter (the key the write workload changes), a
shopping cart (a list of small dicts, grown to reach the size) and a note
string that tops the size up exactly.  Only plain JSON types are used, so the
same payload can be fed to the msgpack and the JSON serializer.

The *size* of a payload is what the store holds for it with the msgpack
serializer: the sum over keys of the key's length plus the value's serialized
length (:meth:`tornado_sessions.Record.size` without the few bytes of meta).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from tornado_sessions import MsgpackSerializer, Serializer

__all__ = ["SIZES", "make_payload", "payload_size", "size_label"]

#: The session sizes measured, in bytes: about 100 B, 4 KiB and 64 KiB.
SIZES: tuple[int, ...] = (100, 4096, 65536)


def payload_size(payload: dict[str, Any], serializer: Serializer | None = None) -> int:
    """Bytes a store holds for ``payload``: keys plus separately serialized values."""
    dumps = (serializer or MsgpackSerializer()).dumps
    return sum(len(key.encode()) + len(dumps(value)) for key, value in payload.items())


def size_label(size: int) -> str:
    """``100 B``, ``4 KiB``, ``64 KiB``."""
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def _item(number: int) -> dict[str, Any]:
    return {"sku": f"SKU-{number:06d}", "qty": 1 + number % 3, "price": 995 + number % 500}


def make_payload(size: int) -> dict[str, Any]:
    """A session payload of exactly ``size`` bytes (as defined above; the smallest is 67).

    Each call returns a new object (the values are mutable).
    """
    return copy.deepcopy(_build(size))


@functools.lru_cache(maxsize=16)
def _build(size: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "user": "u-000042",
        "roles": ["member"],
        "csrf": "Q2hhbmdlTWUtY3NyZg",
        "counter": 0,
        "cart": [],
        "note": "",
    }
    if payload_size(payload) > size:
        raise ValueError(f"a payload cannot be smaller than {payload_size(payload)} bytes")

    def with_items(count: int) -> int:
        payload["cart"] = [_item(number) for number in range(count)]
        return payload_size(payload)

    # The most cart items that leave room for the note's header (binary search).
    low, high = 0, size // len(MsgpackSerializer().dumps(_item(0))) + 1
    while low < high:
        middle = (low + high + 1) // 2
        if with_items(middle) + 2 <= size:
            low = middle
        else:
            high = middle - 1
    with_items(low)
    missing = size - payload_size(payload)
    # A msgpack str header grows by a byte or two at 32 and 256 characters.
    for length in range(missing, -1, -1):
        payload["note"] = "n" * length
        if payload_size(payload) <= size:
            break
    while payload_size(payload) < size:
        payload["csrf"] += "x"
    return payload
