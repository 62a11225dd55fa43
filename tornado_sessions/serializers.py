"""How session values become bytes: msgpack (the default) and JSON.

Each session key's value is serialized on its own, so stores can write only the
keys that changed.  A serializer is any object with ``dumps(value) -> bytes`` and
``loads(data) -> value`` (the :class:`Serializer` protocol); plugins can add named
ones through the ``tornado_sessions_add_serializers`` hook.

:class:`MsgpackSerializer` is safe by construction: it decodes only msgpack's own
types and a fixed table of extension types, each rebuilt from plain data by a
known constructor, so nothing in a record can make the decoder run code.  It
carries, beyond msgpack's natives (None, bool, int, float, str, bytes, list, dict):

=====  ==========================  ==========================================
code   type                        payload
=====  ==========================  ==========================================
1      ``datetime.datetime``       ISO 8601 text, offset kept (naive stays naive)
2      ``datetime.date``           ISO 8601 text
3      ``uuid.UUID``               16 bytes
4      ``decimal.Decimal``         its ``str()``
5      ``set``                     msgpack array of the members
6      ``tuple``                   msgpack array of the items
7      ``frozenset``               msgpack array of the members
8      ``datetime.timedelta``      [days, seconds, microseconds]
=====  ==========================  ==========================================

Dictionary keys must be strings (as in JSON), so that decoding can refuse other
keys (``strict_map_key``); other keys, any other type, and a value of more than
:data:`MAX_CONTAINERS` containers (one that holds itself, for one) fail at save time
with :class:`~tornado_sessions.errors.SerializationError`.  A stored set whose members
share hashes is refused when decoded (:data:`MAX_SHARED_HASHES`).
The size of what is decoded is bounded by the core, which refuses a record over
``SessionOptions.max_record_bytes`` before decoding any of it (a serializer used
on its own can be given ``max_bytes``).  Decoding refuses unknown extension codes, and extension
values nested more than :data:`MAX_EXT_DEPTH` deep (each level recurses through
msgpack's C decoder, so unbounded nesting could overflow the C stack); encoding
refuses the same depth, so nothing is written that could not be read back.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, runtime_checkable

import msgpack

from .errors import SerializationError

__all__ = ["JSONSerializer", "MsgpackSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Turns one session value into bytes and back.

    ``dumps`` raises :class:`~tornado_sessions.errors.SerializationError` for a
    value it cannot represent; ``loads`` raises any :class:`ValueError` (or
    subclass) for bytes it cannot decode, which the core treats as a corrupt record.
    """

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


_DATETIME, _DATE, _UUID, _DECIMAL, _SET, _TUPLE, _FROZENSET, _TIMEDELTA = range(1, 9)
_CONTAINER_CODES: dict[type, int] = {tuple: _TUPLE, set: _SET, frozenset: _FROZENSET}


_CONTAINERS = (dict, list, tuple, set, frozenset)


#: The most containers (dicts, lists, tuples, sets) one value may hold, nested or not,
#: each reference to a shared one counted again (msgpack writes it out again each time).
#: A value that holds itself, or a few lists shared into millions of references, is
#: refused at this count instead of being walked, or packed, for ever.  Each container
#: takes at least a byte, so no value this large fits the default ``max_record_bytes``.
MAX_CONTAINERS = 1_000_000


def _check_containers(value: Any) -> None:
    """Refuse non-string dict keys (so decoding can stay strict) and over
    :data:`MAX_CONTAINERS` containers, before anything is packed."""
    pending = [value]
    left = MAX_CONTAINERS
    while pending:
        item = pending.pop()
        left -= 1
        if left < 0:
            raise SerializationError(
                f"a value holding more than {MAX_CONTAINERS:,} lists, dicts, tuples or sets "
                "(counting each reference to a shared one), or holding itself"
            )
        if type(item) is dict:
            for key, member in item.items():
                if type(key) is not str:
                    raise SerializationError(
                        f"dict keys must be str to serialize, not {type(key).__name__}"
                    )
                if type(member) in _CONTAINERS:
                    pending.append(member)
        else:
            for member in item:
                if type(member) in _CONTAINERS:
                    pending.append(member)


#: Members of one stored set that may share a hash with another; a set with more is
#: refused when decoded.  Ints, tuples, UUIDs, dates and decimals hash the same in every
#: process, so someone who can write to the store could plant a set whose members all
#: collide, and building it would take time quadratic in their number (4,000 colliding
#: UUIDs: seconds).  The members of a real set rarely share a hash (``-1`` and ``-2`` do).
MAX_SHARED_HASHES = 16


def _refuse_colliding(members: list[Any]) -> None:
    # The hashes are ints below 2**61, which hash to themselves: a set of them cannot
    # be flooded, so counting the distinct ones costs linear time whatever they are.
    if len(members) - len(set(map(hash, members))) > MAX_SHARED_HASHES:
        raise ValueError("set members with colliding hashes (planted to slow decoding?)")


#: Extension values nest inside each other (a tuple of sets of tuples...) at most this deep.
MAX_EXT_DEPTH = 32


class MsgpackSerializer:
    """msgpack with a fixed set of extension types (see the module docstring)."""

    def __init__(self, *, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self._packer = msgpack.Packer(
            default=partial(self._encode_ext, 1), use_bin_type=True, strict_types=True
        )
        self._top_ext_hook = partial(self._decode_ext, 1)

    def _encode_ext(self, depth: int, obj: Any) -> Any:
        # With strict_types, every non-exact type comes here: tuples, and
        # subclasses of the native types.  datetime is a subclass of date, so first.
        kind = type(obj)
        if kind is datetime.datetime:
            return msgpack.ExtType(_DATETIME, obj.isoformat().encode())
        if kind is datetime.date:
            return msgpack.ExtType(_DATE, obj.isoformat().encode())
        if kind is uuid.UUID:
            return msgpack.ExtType(_UUID, obj.bytes)
        if kind is decimal.Decimal:
            return msgpack.ExtType(_DECIMAL, str(obj).encode())
        code = _CONTAINER_CODES.get(kind)
        if code is not None:
            return msgpack.ExtType(code, self._pack_nested(depth, list(obj)))
        if kind is datetime.timedelta:
            return msgpack.ExtType(
                _TIMEDELTA, self._pack_nested(depth, [obj.days, obj.seconds, obj.microseconds])
            )
        if kind is int:  # msgpack's own ints stop at 64 bits; bigger ones come here
            raise TypeError(
                f"integer {obj:.3g} is outside msgpack's 64-bit range (-2**63 to 2**64-1): "
                "store it as a str"
            )
        raise TypeError(f"unsupported type {kind.__module__}.{kind.__qualname__}")

    def _pack_nested(self, depth: int, value: Any) -> bytes:
        # Each extension payload is packed on its own (the shared packer is busy
        # with the outer value), so nesting recurses through C; bound it.
        if depth >= MAX_EXT_DEPTH:
            raise ValueError(f"tuples/sets nested more than {MAX_EXT_DEPTH} deep")
        packed: bytes = msgpack.packb(
            value,
            default=partial(self._encode_ext, depth + 1),
            use_bin_type=True,
            strict_types=True,
        )
        return packed

    def dumps(self, value: Any) -> bytes:
        """Serialize ``value``; :class:`SerializationError` names an unsupported type."""
        if type(value) in _CONTAINERS:
            _check_containers(value)
        try:
            data: bytes = self._packer.pack(value)
        except (TypeError, ValueError, OverflowError) as exc:
            self._packer.reset()
            raise SerializationError(f"cannot serialize with msgpack: {exc}") from exc
        return data

    def _unpack(self, data: bytes, ext_hook: Callable[[int, bytes], Any]) -> Any:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True, ext_hook=ext_hook
        )

    def _decode_ext(self, depth: int, code: int, data: bytes) -> Any:
        if code in (_SET, _TUPLE, _FROZENSET, _TIMEDELTA):
            if depth >= MAX_EXT_DEPTH:
                raise ValueError(f"extension types nested more than {MAX_EXT_DEPTH} deep")
            items = self._unpack(data, partial(self._decode_ext, depth + 1))
            if not isinstance(items, list):
                raise ValueError(f"extension type {code} does not hold an array")
            if code in (_SET, _FROZENSET):
                _refuse_colliding(items)
            if code == _SET:
                return set(items)
            if code == _TUPLE:
                return tuple(items)
            if code == _FROZENSET:
                return frozenset(items)
            return datetime.timedelta(*items)
        if code == _DATETIME:
            return datetime.datetime.fromisoformat(data.decode())
        if code == _DATE:
            return datetime.date.fromisoformat(data.decode())
        if code == _UUID:
            return uuid.UUID(bytes=data)
        if code == _DECIMAL:
            return decimal.Decimal(data.decode())
        raise ValueError(f"unknown msgpack extension type {code}")

    def loads(self, data: bytes) -> Any:
        """Decode bytes made by :meth:`dumps`; :class:`ValueError` for anything else."""
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise ValueError(f"serialized value of {len(data)} bytes exceeds {self.max_bytes}")
        try:
            return self._unpack(data, self._top_ext_hook)
        except ValueError:
            raise
        except Exception as exc:  # msgpack and the constructors raise other types too
            raise ValueError(f"corrupt msgpack data: {exc}") from exc


class JSONSerializer:
    """JSON: readable records, plain types only (tuples come back as lists)."""

    def __init__(self, *, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self._encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self._decoder = json.JSONDecoder()

    def dumps(self, value: Any) -> bytes:
        """Serialize ``value``; dict keys must be strings (JSON would turn ``1`` into ``"1"``)."""
        if type(value) in _CONTAINERS:
            _check_containers(value)
        try:
            return self._encoder.encode(value).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"cannot serialize with JSON: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise ValueError(f"serialized value of {len(data)} bytes exceeds {self.max_bytes}")
        try:
            return self._decoder.decode(data.decode())
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
