"""How a record's fields are kept in one ``jsonb`` column, and read back.

The encoding (hex names, base64 values) is :mod:`tornado_sessions.stores.json_fields`,
shared with the SQLite store.  Hex keys are what make per-key deltas a single SQL
expression here: the store removes the deleted keys (:func:`encode_names`) and
merges the updated ones inside its conditional ``UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tornado_sessions.stores.json_fields import (
    decode_fields,
    decode_owner,
    encode_fields,
    encode_name,
)

__all__ = ["decode_fields", "decode_owner", "encode_fields", "encode_name", "encode_names"]


def encode_names(names: Iterable[str]) -> list[str]:
    """:func:`encode_name` of each name."""
    return [encode_name(name) for name in names]
