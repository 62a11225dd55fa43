"""``sqlite:///path`` store URLs.

As in SQLAlchemy, the path follows the third slash: ``sqlite:///sessions.db`` is
relative to the working directory, ``sqlite:////var/lib/app/sessions.db`` absolute.
Query options:

==================  ====================  =================================================
``table``           ``tornado_sessions``  the sessions table (letters, digits, ``_``)
``create_table``    ``true``              create the table in ``open()`` when missing
``purge_interval``  ``0`` (off)           seconds between two ``purge_expired()`` runs
``purge_batch``     ``1000``              rows one purge ``DELETE`` removes at most
==================  ====================  =================================================

Any other option is a :class:`~tornado_sessions.errors.ConfigurationError` naming
the valid ones, raised when the store is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = ["DEFAULT_TABLE", "OPTIONS", "SCHEMES", "SQLiteURL", "check_table_name", "parse_url"]

SCHEMES = ("sqlite",)
DEFAULT_TABLE = "tornado_sessions"
OPTIONS = ("table", "create_table", "purge_interval", "purge_batch")

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class SQLiteURL:
    """A store URL: the database file and the store's options."""

    path: str
    table: str = DEFAULT_TABLE
    create_table: bool = True
    purge_interval: float = 0.0
    purge_batch: int = 1000


def check_table_name(name: str) -> str:
    """``name`` if it is a plain identifier the store may put in SQL, else ConfigurationError."""
    if not isinstance(name, str) or not _TABLE.match(name):
        raise ConfigurationError(
            f"SQLite store table name {name!r} must be 1 to 40 letters, digits or _, "
            "not starting with a digit"
        )
    return name


def parse_url(url: str) -> SQLiteURL:
    """Split a store URL; raise :class:`ConfigurationError` for what cannot work."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigurationError(f"the SQLite store serves sqlite://, not {parts.scheme!r} URLs")
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite store URL {url!r} names a host; write sqlite:///relative/path "
            "or sqlite:////absolute/path"
        )
    path = unquote(parts.path[1:])
    if not path:
        raise ConfigurationError("SQLite store URL needs a file: sqlite:///sessions.db")
    options: dict[str, object] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "table":
            options[name] = check_table_name(value)
        elif name == "create_table":
            lowered = value.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ConfigurationError(
                    f"SQLite store URL option {name}={value!r} is not a boolean"
                )
            options[name] = lowered in _TRUE
        elif name in ("purge_interval", "purge_batch"):
            try:
                number = float(value) if name == "purge_interval" else int(value)
            except ValueError:
                raise ConfigurationError(
                    f"SQLite store URL option {name}={value!r} is not a number"
                ) from None
            if number < (0 if name == "purge_interval" else 1):
                raise ConfigurationError(f"SQLite store URL option {name}={value!r} is too small")
            options[name] = number
        else:
            raise ConfigurationError(
                f"unknown SQLite store URL option {name!r}; valid: {', '.join(OPTIONS)}"
            )
    return SQLiteURL(path, **options)  # type: ignore[arg-type]
