"""Cookie values and the sessions they name: signing, verifying, and the store key of an id.

:class:`Tokens` turns a cookie value into a :class:`Token` (the id, its store key,
and whether the current secret signed it), and an id into the value to send.
Both directions are cached, because the same cookie comes back on every request
of a session and an HMAC plus a SHA-256 cost more than a dictionary lookup:

- verified values are cached by their exact text, so only a value that verified
  before can hit; only values signed with the current secret are kept (an older
  one must be verified each time, until the response re-signs it);
- signed values are cached by id;
- both caches are emptied when they reach their bound (no eviction bookkeeping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from .ids import checked_id, store_key
from .signing import Signer

__all__ = ["Token", "Tokens"]

V = TypeVar("V")

#: Entries each cache holds at most before it is emptied.
CACHE_SIZE = 10_000


class Token(NamedTuple):
    """A verified cookie value."""

    id: str
    key: str
    current: bool


class Tokens:
    """Signs ids and verifies cookie values for one cookie name; see the module docstring."""

    __slots__ = ("_genid", "_hash_ids", "_signed", "_signer", "_verified")

    def __init__(
        self,
        secrets: Sequence[bytes],
        name: str,
        *,
        hash_ids: bool,
        genid: Callable[[], str],
    ) -> None:
        self._signer = Signer(secrets, name)
        self._hash_ids = hash_ids
        self._genid = genid
        self._verified: dict[str, Token] = {}
        self._signed: dict[str, str] = {}

    def verify(self, value: str) -> Token | None:
        """The session a cookie value names, or ``None`` if it is not validly signed."""
        token = self._verified.get(value)
        if token is not None:
            return token
        verified = self._signer.verify(value)
        if verified is None:
            return None
        session_id, current = verified
        token = Token(session_id, store_key(session_id, self._hash_ids), current)
        if current:
            _remember(self._verified, value, token)
        return token

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``, signed with the current secret."""
        value = self._signed.get(session_id)
        if value is None:
            value = self._signer.sign(session_id)
            _remember(self._signed, session_id, value)
        return value

    def new(self) -> tuple[str, str]:
        """A new ``(id, store key)`` from ``genid`` (checked: a bad id is a ConfigurationError)."""
        session_id = checked_id(self._genid())
        return session_id, store_key(session_id, self._hash_ids)


def _remember(cache: dict[str, V], key: str, value: V) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
