"""Label values with a fixed bound: what metrics and spans may say about a store call.

A metric label or span attribute must never carry an id, a key or an owner, and
must take few distinct values (every value is a time series).  Operations are the
store contract's method names; anything else is ``"other"``.  Schemes are what the
core reports (a URL scheme, or a store class's name); past :data:`MAX_SCHEMES`
distinct ones, further schemes are ``"other"``.  Cookie rejection reasons are the
documented ones, or ``"other"``.
"""

from __future__ import annotations

from tornado_sessions.stores.base import OPTIONAL_METHODS

__all__ = ["DB_SYSTEMS", "MAX_SCHEMES", "OPERATIONS", "REASONS", "Schemes", "operation", "reason"]

#: Every store method the core calls through its one store corridor.
OPERATIONS = frozenset({"load", "save", "destroy", *OPTIONAL_METHODS})
#: ``cookie_rejected`` reasons (see ``tornado_sessions.hooks``).
REASONS = frozenset({"bad_signature", "duplicate", "corrupt_record"})
#: At most this many distinct scheme label values.
MAX_SCHEMES = 16
#: OpenTelemetry's ``db.system.name`` for the schemes of this project's plugins.
DB_SYSTEMS = {
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "redis+cluster": "redis",
    "rediss+cluster": "redis",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
}


def operation(name: str) -> str:
    return name if name in OPERATIONS else "other"


def reason(name: str) -> str:
    return name if name in REASONS else "other"


class Schemes:
    """Admits the first :data:`MAX_SCHEMES` schemes seen; later ones read as ``"other"``."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, scheme: str) -> str:
        if scheme in self._seen:
            return scheme
        if len(self._seen) >= MAX_SCHEMES:
            return "other"
        self._seen.add(scheme)
        return scheme
