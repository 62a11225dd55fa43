"""How a record's fields are kept in one JSON text column, and read back.

The encoding (hex names, base64 values) is :mod:`tornado_sessions.stores.json_fields`,
shared with the PostgreSQL store.  Hex keys are what make per-key deltas a single
SQL expression here: the store applies a JSON merge patch (:func:`encode_patch`:
updated keys set, deleted keys ``null``) with ``json_patch`` inside its conditional
``UPDATE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from tornado_sessions.stores.json_fields import (
    decode_fields,
    decode_owner,
    encode_fields,
    encode_name,
    encode_value,
)

__all__ = ["decode_fields", "decode_owner", "encode_fields", "encode_patch"]


def encode_patch(updated: Mapping[str, bytes], deleted: Iterable[str]) -> str:
    """A JSON merge patch setting ``updated`` and removing ``deleted``."""
    patch: dict[str, str | None] = {encode_name(name): None for name in deleted}
    for name, value in updated.items():
        patch[encode_name(name)] = encode_value(value)
    return json.dumps(patch, separators=(",", ":"))
