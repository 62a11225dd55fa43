"""Session fields as one JSON object: hex names, base64 values.  For stores that keep a column.

A session key name may hold anything a Python ``str`` can (NUL, quotes, lone
surrogates, names that differ only by case), which a database's JSON keys cannot
all hold safely.  So each name is stored as the lowercase hex of its UTF-8 bytes
(``surrogatepass``), and each value, bytes, as base64: the object
``{"75736572": "KgE=", ...}`` holds ``{"user": b"*\\x01"}``.  Names are compared
byte for byte, so case and whitespace are kept exactly, and a name is a plain
JSON key a SQL expression can address (PostgreSQL's ``jsonb`` operators, SQLite's
``json_patch``): per-key deltas stay one statement.

The PostgreSQL and SQLite plugins keep their records this way; a third-party
store with a JSON (or text) column can too.  :func:`decode_fields` and
:func:`decode_owner` refuse anything :func:`encode_fields` (or an owner written as
UTF-8 bytes) could not have produced, with
:class:`~tornado_sessions.errors.CorruptRecordError`.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping

from ..errors import CorruptRecordError

__all__ = ["decode_fields", "decode_owner", "encode_fields", "encode_name", "encode_value"]

_JSON = json.JSONDecoder()


def encode_name(name: str) -> str:
    """The JSON key holding session key ``name``."""
    return name.encode("utf-8", "surrogatepass").hex()


def encode_value(value: bytes) -> str:
    """The JSON string holding the value ``value`` (base64)."""
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def encode_fields(fields: Mapping[str, bytes]) -> str:
    """The JSON text of ``fields``."""
    return json.dumps(
        {encode_name(name): encode_value(value) for name, value in fields.items()},
        separators=(",", ":"),
    )


def decode_fields(text: object) -> dict[str, bytes]:
    """The fields a JSON text written by :func:`encode_fields` holds.

    :raises CorruptRecordError: ``text`` is not such an object.
    """
    if not isinstance(text, str):
        raise CorruptRecordError(f"session fields are {type(text).__name__}, not JSON text")
    try:
        raw = _JSON.decode(text)
    except ValueError as exc:
        raise CorruptRecordError(f"session fields are not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CorruptRecordError(f"session fields are a JSON {type(raw).__name__}, not an object")
    fields: dict[str, bytes] = {}
    try:
        for key, value in raw.items():
            if not isinstance(value, str):
                raise CorruptRecordError(f"session field {key!r} is not a base64 string")
            name = bytes.fromhex(key).decode("utf-8", "surrogatepass")
            # What base64.b64decode(value, validate=True) does, without its two Python frames.
            fields[name] = binascii.a2b_base64(value, strict_mode=True)
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise CorruptRecordError(f"session field not written by this store: {exc}") from None
    return fields


def decode_owner(raw: object) -> str | None:
    """The owner kept as UTF-8 bytes (``None`` when the column is NULL)."""
    if raw is None:
        return None
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise CorruptRecordError(f"session owner is {type(raw).__name__}, not bytes")
    try:
        return bytes(raw).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise CorruptRecordError(f"session owner is not UTF-8: {exc}") from None
