"""Session ids and the store keys derived from them.

An id is 32 random bytes from :mod:`secrets`, base64url-encoded: 43 characters,
256 bits.  A custom ``genid`` may return any string of 22 to 128 characters from
the base64url alphabet (``A-Z a-z 0-9 - _``); anything else is refused, so an id
can always travel in a cookie unquoted and never carries a separator.

With ``hash_ids`` (the default) the store key is the SHA-256 hex digest of the id:
a dump of the store then holds nothing that can be replayed as a cookie.  The hash
is unkeyed on purpose: a keyed hash would tie every record to a secret, and
rotating that secret would log everyone out.  The id has 256 bits of entropy, so
an unkeyed hash cannot be inverted by brute force.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from .errors import ConfigurationError

__all__ = [
    "MAX_OWNER_LENGTH",
    "OwnerKey",
    "generate_id",
    "is_valid_id",
    "log_id",
    "owner_key",
    "session_handle",
    "store_key",
]

#: The longest owner a session may have (``Session.owner``), in characters.
MAX_OWNER_LENGTH = 128

_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,128}")


def generate_id() -> str:
    """A new session id: 256 bits from the operating system's CSPRNG."""
    return secrets.token_urlsafe(32)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of a session id (checked before any store call)."""
    return _ID_PATTERN.fullmatch(value) is not None


def checked_id(value: object) -> str:
    """Return ``value`` if a custom ``genid`` produced a usable id, else raise."""
    if not isinstance(value, str) or not is_valid_id(value):
        raise ConfigurationError(
            "genid must return 22 to 128 characters of A-Z, a-z, 0-9, '-' or '_'; "
            f"it returned {value!r:.40}"
        )
    return value


def store_key(session_id: str, hashed: bool) -> str:
    """The key the store sees for ``session_id``."""
    if hashed:
        return hashlib.sha256(session_id.encode()).hexdigest()
    return session_id


class OwnerKey(str):
    """An owner as the store indexes it (what ``Session.owner`` returns): already hashed.

    The functions that take an owner (``sessions_of``, ``end_sessions``,
    ``end_session``) accept one as it is, instead of hashing it a second time.
    """

    __slots__ = ()


def owner_key(owner: str, hashed: bool) -> str:
    """The key the store indexes an owner under: SHA-256 of it with ``hash_ids``.

    Hashed, a store dump does not show user ids or emails in the clear, though the
    hash is unkeyed: whoever has a dump can test a guess.  The prefix keeps an
    owner's hash apart from any id's.
    """
    if hashed:
        return hashlib.sha256(b"owner\x00" + owner.encode("utf-8", "surrogatepass")).hexdigest()
    return owner


def session_handle(session_id: str) -> str:
    """The public name of a session (``Session.handle``): SHA-256 of its id, in hex.

    With ``hash_ids`` it is also the session's store key, which holds no secret.
    """
    return hashlib.sha256(session_id.encode()).hexdigest()


def log_id(session_id: str) -> str:
    """A short, non-reversible tag for log lines (never log a live id)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]
