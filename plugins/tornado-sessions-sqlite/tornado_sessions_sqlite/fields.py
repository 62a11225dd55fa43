"""How a record's fields are kept in one JSON object column, and read back.

A session key name may hold anything a Python ``str`` can (NUL, quotes, lone
surrogates, names that differ only by case), which JSON text handled by SQLite's
JSON functions cannot all hold safely.  So each name is stored as the lowercase hex
of its UTF-8 bytes (``surrogatepass``), and each value, bytes, as base64: the
object ``{"75736572": "KgE=", ...}`` holds ``{"user": b"*\\x01"}``.  Names are
compared byte for byte, so case and whitespace are kept exactly.

Hex keys are what make per-key deltas a single SQL expression: the store applies
a JSON merge patch (updated keys set, deleted keys ``null``) with ``json_patch``
inside its conditional ``UPDATE``.

:func:`decode_fields` refuses anything this module did not write with
:class:`~tornado_sessions.errors.CorruptRecordError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping

from tornado_sessions.errors import CorruptRecordError

__all__ = ["decode_fields", "decode_owner", "encode_fields", "encode_patch"]


def encode_patch(updated: Mapping[str, bytes], deleted: Iterable[str]) -> str:
    """A JSON merge patch setting ``updated`` and removing ``deleted``."""
    patch: dict[str, str | None] = {
        name.encode("utf-8", "surrogatepass").hex(): None for name in deleted
    }
    for name, value in updated.items():
        patch[name.encode("utf-8", "surrogatepass").hex()] = base64.b64encode(value).decode()
    return json.dumps(patch, separators=(",", ":"))


def encode_fields(fields: Mapping[str, bytes]) -> str:
    """The JSON text of ``fields``."""
    return json.dumps(
        {
            name.encode("utf-8", "surrogatepass").hex(): base64.b64encode(value).decode("ascii")
            for name, value in fields.items()
        },
        separators=(",", ":"),
    )


def decode_fields(text: object) -> dict[str, bytes]:
    """The fields a JSON text written by :func:`encode_fields` holds.

    :raises CorruptRecordError: ``text`` is not such an object.
    """
    if not isinstance(text, str):
        raise CorruptRecordError(f"session fields are {type(text).__name__}, not JSON text")
    try:
        raw = json.loads(text)
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
            fields[name] = base64.b64decode(value, validate=True)
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
