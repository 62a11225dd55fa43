"""Re-encrypting a whole store with the first of the encryption keys (key rotation).

Values are re-sealed one by one as requests write them, so after a rotation the
store still holds values sealed by older keys until each is written again.
:func:`reencrypt_store` walks the store once and re-seals every value that is not
sealed by the first key yet; after it, the older keys can be dropped from
``encryption_keys``.  Run it from a maintenance task or the command line
(``tornado-sessions reencrypt URL``) while the application keeps serving: each
record is rewritten with the store's conditional delta write, so a session that is
destroyed meanwhile stays destroyed, and only the re-sealed fields are written.

The walk uses the store's optional ``keys()``; a store without it cannot be
re-encrypted in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .encryption import UnreadableValueError, ValueCipher, parse_encryption_keys
from .errors import ConfigurationError, CorruptRecordError
from .record import Changes
from .stores.base import Store

__all__ = ["ReencryptReport", "reencrypt_store"]


@dataclass
class ReencryptReport:
    """What one walk did, for the operator."""

    records: int = 0
    """Records visited."""
    resealed: int = 0
    """Values re-sealed with the first key."""
    unreadable: int = 0
    """Values no configured key opens (left alone; sessions read them as absent)."""
    sealed_cleartext: int = 0
    """Cleartext values sealed (only with ``seal_cleartext=True``)."""


async def reencrypt_store(
    store: Store,
    encryption_keys: Sequence[bytes | str],
    *,
    seal_cleartext: bool = False,
) -> ReencryptReport:
    """Re-seal every value of ``store`` that the first key did not seal.

    :param encryption_keys: as in ``SessionOptions.encryption_keys``: the first
        seals, all open.
    :param seal_cleartext: also seal values stored before encryption was turned on
        (they are not encrypted values at all).  Only for that migration: a
        cleartext value in an encrypted store is otherwise treated as tampering.
    :raises ConfigurationError: no keys, or the store cannot list its keys.
    """
    keys = parse_encryption_keys(encryption_keys)
    if not keys:
        raise ConfigurationError("reencrypt_store needs at least one encryption key")
    if "keys" not in store.capabilities:
        raise ConfigurationError(
            f"{type(store).__name__} cannot list its records (no keys()), so it cannot "
            "be re-encrypted in place"
        )
    cipher = ValueCipher(keys)
    report = ReencryptReport()
    async for store_key in store.keys():
        try:
            record = await store.load(store_key)
        except CorruptRecordError:
            continue
        if record is None:
            continue
        report.records += 1
        updated: dict[str, bytes] = {}
        for field, data in record.fields.items():
            if cipher.looks_sealed(data):
                if cipher.sealed_by_current_key(data):
                    continue
                try:
                    plaintext = cipher.open(store_key, field, data)
                except UnreadableValueError:
                    report.unreadable += 1
                    continue
                report.resealed += 1
            elif seal_cleartext:
                plaintext = data
                report.sealed_cleartext += 1
            else:
                report.unreadable += 1
                continue
            updated[field] = cipher.seal(store_key, field, plaintext)
        if updated:
            changes = Changes(updated, frozenset(), record.owner)
            await store.save_changes(store_key, changes, record.meta, record.expires_at)
    return report
