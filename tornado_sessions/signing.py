"""Signing and verifying the session cookie's value.

The value is ``<id>.<signature>``: the signature is HMAC-SHA256 over the cookie
name and the id, base64url without padding (43 characters).  Binding the name
means a value signed for one cookie is refused under another.

Rotation: the first secret signs, every secret verifies.  Verification never
raises, whatever the input: a value of the wrong shape, length or alphabet, or a
signature that no secret produced, yields ``None``, which the caller treats as no
cookie at all (a fresh session, no store read).  Digests are compared with
:func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from .ids import is_valid_id

__all__ = ["Signer"]

_SIGNATURE_LENGTH = 43  # base64url of 32 bytes, unpadded
_MAX_VALUE_LENGTH = 128 + 1 + _SIGNATURE_LENGTH


class Signer:
    """Signs session ids for one cookie name with a list of secrets."""

    __slots__ = ("_macs",)

    def __init__(self, secrets: Sequence[bytes], name: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        prefix = name.encode() + b"\x00"
        # Pre-keyed HMAC objects; each use copies one instead of re-deriving the key.
        self._macs = tuple(hmac.new(secret, prefix, hashlib.sha256) for secret in secrets)

    def _signature(self, mac: hmac.HMAC, session_id: str) -> bytes:
        mac = mac.copy()
        mac.update(session_id.encode())
        return base64.urlsafe_b64encode(mac.digest())[:_SIGNATURE_LENGTH]

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``, signed with the first secret."""
        return f"{session_id}.{self._signature(self._macs[0], session_id).decode()}"

    def unsign(self, value: str) -> str | None:
        """The id inside a validly signed ``value``, else ``None``.  Never raises."""
        verified = self.verify(value)
        return None if verified is None else verified[0]

    def verify(self, value: str) -> tuple[str, bool] | None:
        """``(id, signed_with_current_secret)`` for a valid ``value``, else ``None``.

        The second item is false when an older secret matched: the cookie should be
        re-signed, so the old secret can be dropped later.  Never raises.
        """
        if len(value) > _MAX_VALUE_LENGTH:
            return None
        session_id, dot, signature = value.rpartition(".")
        if not dot or len(signature) != _SIGNATURE_LENGTH or not is_valid_id(session_id):
            return None
        try:
            given = signature.encode("ascii")
        except UnicodeEncodeError:
            return None
        matched = -1
        for index, mac in enumerate(self._macs):
            # No early exit: the time taken does not reveal which secret matched.
            if hmac.compare_digest(self._signature(mac, session_id), given) and matched < 0:
                matched = index
        return None if matched < 0 else (session_id, matched == 0)
