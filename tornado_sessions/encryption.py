"""Encryption of session values at rest: keys, the sealed format, and rotation.

With ``SessionOptions(encryption_keys=[...])`` every session value is encrypted
before it reaches the store and decrypted after it comes back, one value at a
time, so per-key delta writes (``save_changes``) keep working and the store still
sees only bytes: no store changes.  The first key encrypts; every key decrypts, as
with ``secret``.

The cipher is AES-SIV (RFC 5297, from ``cryptography``), an authenticated
encryption that is *deterministic*: the same value in the same field of the same
session seals to the same bytes.  That is on purpose.  The core finds which values
a request changed in place by comparing their serialized bytes with the stored
ones; with a randomized cipher every read of a list or dict would look like a
change and be written back.  Determinism reveals only that a field went back to a
value it held before, which the store could already see from the write pattern.

Each sealed value is bound, as associated data, to its store key, its field name
and the id of the key that sealed it.  A value copied to another session or
another field, truncated, or with one bit flipped fails authentication: the core
treats it as a corrupt value (absent, logged, removed), never decodes it.  A value
sealed by a key no longer configured is unreadable in the same way.

Sealed format (version 1)::

    0x01 | key id (4 bytes) | SIV tag (16 bytes) | ciphertext (as long as the value)

The key id is the first 4 bytes of SHA-256 over a label and the key: it names the
key without revealing it.  The 256-bit key given by the application is expanded by
HKDF-SHA256 into the 512-bit key of AES-256-SIV.

Not hidden: field names (the store keeps one entry per field), value sizes, the
record's expiry and metadata (creation time, lifetime, the owner's hashed index
key), and when each field was written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "EncryptionKey",
    "UnknownKeyError",
    "UnreadableValueError",
    "ValueCipher",
    "parse_encryption_keys",
]

#: What an application may give as one key: 32 bytes, or their base64 or hex text.
EncryptionKey = bytes | str

FORMAT_VERSION = 1
_HEADER = bytes([FORMAT_VERSION])
_KEY_ID_BYTES = 4
_TAG_BYTES = 16
_OVERHEAD = 1 + _KEY_ID_BYTES + _TAG_BYTES
_DOMAIN = b"tornado-sessions value v1"
_KEY_ID_LABEL = b"tornado-sessions encryption key id\x00"
_HKDF_INFO = b"tornado-sessions AES-256-SIV value key v1"


class UnreadableValueError(ValueError):
    """A sealed value failed to open: tampered, moved, truncated, or its key is gone."""

    #: Whether the stored value should be left alone rather than removed: true when
    #: it is sealed by a key this process does not have (another process, mid-way
    #: through a key rotation, may still read it), false when it is damaged.
    keep_stored = False


class UnknownKeyError(UnreadableValueError):
    """A value sealed by a key that is not in ``encryption_keys`` (yet, or any more)."""

    keep_stored = True


def parse_encryption_keys(keys: object) -> tuple[bytes, ...]:
    """Check ``SessionOptions.encryption_keys`` and return the raw 32-byte keys.

    :raises ConfigurationError: saying which key is wrong and how to make one.
    """
    if isinstance(keys, bytes | str):
        keys = [keys]
    if not isinstance(keys, Sequence):
        raise ConfigurationError(
            f"encryption_keys must be a list of keys, not {type(keys).__name__}"
        )
    parsed: list[bytes] = []
    for index, key in enumerate(keys):
        raw = _raw_key(key, f"encryption_keys[{index}]")
        if raw in parsed:
            raise ConfigurationError(f"encryption_keys[{index}] repeats an earlier key")
        parsed.append(raw)
    return tuple(parsed)


def _raw_key(key: object, name: str) -> bytes:
    how = "make one with base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()"
    if isinstance(key, bytes):
        raw = key
    elif isinstance(key, str):
        decoded = _decode_text(key.strip())
        if decoded is None:
            raise ConfigurationError(
                f"{name} is not base64 or hex text of 32 bytes (256 bits): {how}"
            )
        raw = decoded
    else:
        raise ConfigurationError(
            f"{name} must be 32 bytes or their base64/hex text, not {type(key).__name__}"
        )
    if len(raw) != 32:
        raise ConfigurationError(
            f"{name} must be 256 bits (32 bytes), not {len(raw)} bytes: {how}"
        )
    if len(set(raw)) < 8:
        raise ConfigurationError(f"{name} is not random (too few distinct bytes): {how}")
    return raw


def _decode_text(text: str) -> bytes | None:
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(padded.encode("ascii"))
        except (binascii.Error, ValueError):
            continue
    return None


def key_id(key: bytes) -> bytes:
    """The 4-byte id that names ``key`` in every value it seals."""
    return hashlib.sha256(_KEY_ID_LABEL + key).digest()[:_KEY_ID_BYTES]


class ValueCipher:
    """Seals and opens session values; see the module docstring for the format."""

    __slots__ = ("_ciphers", "_current_id", "_seal")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigurationError("a ValueCipher needs at least one key")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        ciphers: dict[bytes, Any] = {}
        for key in keys:
            expanded = HKDF(hashes.SHA256(), 64, None, _HKDF_INFO).derive(key)
            ciphers[key_id(key)] = AESSIV(expanded)
        self._ciphers = ciphers
        self._current_id = key_id(keys[0])
        self._seal = ciphers[self._current_id]

    @property
    def current_key_id(self) -> bytes:
        """The id of the key that seals (the first one)."""
        return self._current_id

    def seal(self, store_key: str, field: str, plaintext: bytes) -> bytes:
        """``plaintext`` encrypted with the first key, bound to its record and field."""
        kid = self._current_id
        sealed: bytes = self._seal.encrypt(plaintext, _aad(store_key, field, kid))
        return _HEADER + kid + sealed

    def open(self, store_key: str, field: str, data: bytes) -> bytes:
        """The plaintext of ``data``.

        :raises UnreadableValueError: not a sealed value, sealed by an unknown key,
            or not sealed for this record and field (tampered or moved).
        """
        if len(data) < _OVERHEAD or data[0] != FORMAT_VERSION:
            raise UnreadableValueError("not an encrypted session value")
        kid = bytes(data[1 : 1 + _KEY_ID_BYTES])
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKeyError(
                f"sealed by key id {kid.hex()}, which is not in encryption_keys (left in "
                "the store: another process may have that key)"
            )
        from cryptography.exceptions import InvalidTag

        try:
            plaintext: bytes = cipher.decrypt(
                bytes(data[1 + _KEY_ID_BYTES :]), _aad(store_key, field, kid)
            )
        except InvalidTag:
            raise UnreadableValueError(
                "authentication failed: the value was altered, or belongs to another "
                "session or field"
            ) from None
        return plaintext

    @staticmethod
    def looks_sealed(data: bytes) -> bool:
        """Whether ``data`` has the sealed format (no serializer's output does).

        A msgpack value starting with byte 1 is the integer 1, one byte long; JSON
        never starts with it.
        """
        return len(data) >= _OVERHEAD and data[0] == FORMAT_VERSION

    def sealed_by_current_key(self, data: bytes) -> bool:
        """Whether ``data`` is already sealed by the first key (nothing to rotate)."""
        return bytes(data[1 : 1 + _KEY_ID_BYTES]) == self._current_id

    def rebind(self, old_key: str, new_key: str, fields: Mapping[str, bytes]) -> dict[str, bytes]:
        """``fields`` of the record ``old_key`` sealed again for ``new_key`` (regenerate).

        A value that does not open is left out: it was unreadable anyway.
        """
        rebound: dict[str, bytes] = {}
        for field, data in fields.items():
            try:
                rebound[field] = self.seal(new_key, field, self.open(old_key, field, data))
            except UnreadableValueError:
                continue
        return rebound


def _aad(store_key: str, field: str, kid: bytes) -> list[bytes]:
    return [_DOMAIN, store_key.encode("ascii"), field.encode("utf-8", "surrogatepass"), kid]
