"""Session values to the bytes a store keeps, and back: the serializer, then the cipher.

A session holds Python values; a store holds bytes per field.  :class:`ValueCodec`
is the one place that turns one into the other.  Without ``encryption_keys`` it is
the serializer alone; with them, each serialized value is sealed by
:class:`~tornado_sessions.encryption.ValueCipher`, bound to its record's store key
and its field name, so the codec needs both to encode or decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .encryption import ValueCipher
from .serializers import Serializer

__all__ = ["ValueCodec"]


class ValueCodec:
    """Encodes and decodes one session value at a time for one runtime."""

    __slots__ = ("_cipher", "_dumps", "_loads", "serializer")

    def __init__(self, serializer: Serializer, cipher: ValueCipher | None = None) -> None:
        self.serializer = serializer
        self._dumps = serializer.dumps
        self._loads = serializer.loads
        self._cipher = cipher

    @property
    def cipher(self) -> ValueCipher | None:
        """The value cipher, or ``None`` when values are stored in the clear."""
        return self._cipher

    def encode(self, store_key: str, field: str, value: Any) -> bytes:
        """The bytes to store for ``value`` in ``field`` of the record ``store_key``.

        Raises whatever the serializer raises for a value it cannot write.
        """
        data: bytes = self._dumps(value)
        if self._cipher is None:
            return data
        return self._cipher.seal(store_key, field, data)

    def decode(self, store_key: str, field: str, data: bytes) -> Any:
        """The value stored as ``data``; raises if it cannot be read (corrupt, tampered)."""
        if self._cipher is not None:
            data = self._cipher.open(store_key, field, data)
        return self._loads(data)

    def rebind(
        self, old_key: str, new_key: str, fields: Mapping[str, bytes]
    ) -> Mapping[str, bytes]:
        """``fields`` of record ``old_key`` made readable under ``new_key`` (regenerate)."""
        if self._cipher is None:
            return fields
        return self._cipher.rebind(old_key, new_key, fields)
