"""``postgresql://`` and ``postgres://`` store URLs: what the store reads, what asyncpg gets.

A store URL is a libpq-style connection URL plus the store's own query options:

==================  ====================  =================================================
option              default               meaning
==================  ====================  =================================================
``table``           ``tornado_sessions``  the sessions table (letters, digits, ``_``)
``create_table``    ``true``              create the table in ``open()`` when missing
``min_size``        ``1``                 connections the pool keeps open
``max_size``        ``10``                connections the pool opens at most
``purge_interval``  ``0`` (off)           seconds between two ``purge_expired()`` runs
``purge_batch``     ``1000``              rows one purge ``DELETE`` removes at most
==================  ====================  =================================================

The connection options asyncpg understands (:data:`DRIVER_OPTIONS`) are passed on
to it unchanged; any other option is a
:class:`~tornado_sessions.errors.ConfigurationError` naming the valid ones, raised
when the store is built, not on the first request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = [
    "DEFAULT_TABLE",
    "DRIVER_OPTIONS",
    "SCHEMES",
    "STORE_OPTIONS",
    "PostgresURL",
    "check_table_name",
    "parse_url",
]

SCHEMES = ("postgresql", "postgres")
DEFAULT_TABLE = "tornado_sessions"

#: The store's own query options.
STORE_OPTIONS = (
    "table",
    "create_table",
    "min_size",
    "max_size",
    "purge_interval",
    "purge_batch",
)
#: Query options handed to asyncpg as they are.
DRIVER_OPTIONS = (
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "database",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "application_name",
)

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class PostgresURL:
    """A store URL split into the DSN for asyncpg and the store's options."""

    dsn: str
    table: str = DEFAULT_TABLE
    create_table: bool = True
    min_size: int = 1
    max_size: int = 10
    purge_interval: float = 0.0
    purge_batch: int = 1000


def check_table_name(name: str) -> str:
    """``name`` if it is a plain identifier the store may put in SQL, else ConfigurationError.

    Table names are the only text the store ever places in a statement; everything
    else travels as a bound parameter.
    """
    if not isinstance(name, str) or not _TABLE.match(name):
        raise ConfigurationError(
            f"PostgreSQL store table name {name!r} must be 1 to 40 letters, digits or _, "
            "not starting with a digit"
        )
    return name


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"PostgreSQL store URL option {name}={value!r} is not a boolean")


def _number(name: str, value: str, *, minimum: float, integer: bool) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigurationError(
            f"PostgreSQL store URL option {name}={value!r} is not {kind}"
        ) from None
    if not number >= minimum:
        raise ConfigurationError(
            f"PostgreSQL store URL option {name}={value!r} must be at least {minimum:g}"
        )
    return number


def parse_url(url: str) -> PostgresURL:
    """Split a store URL; raise :class:`ConfigurationError` for what cannot work."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"the PostgreSQL store serves postgresql:// and postgres://, not {parts.scheme!r} URLs"
        )
    options: dict[str, object] = {}
    passed: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "table":
            options["table"] = check_table_name(value)
        elif name == "create_table":
            options["create_table"] = _flag(name, value)
        elif name in ("min_size", "max_size", "purge_batch"):
            options[name] = int(
                _number(name, value, minimum=0 if name == "min_size" else 1, integer=True)
            )
        elif name == "purge_interval":
            options[name] = _number(name, value, minimum=0, integer=False)
        elif name in DRIVER_OPTIONS:
            passed.append((name, value))
        else:
            raise ConfigurationError(
                f"unknown PostgreSQL store URL option {name!r}; the store reads "
                f"{', '.join(STORE_OPTIONS)} and passes {', '.join(DRIVER_OPTIONS)} to asyncpg"
            )
    query = urlencode(passed)
    dsn = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    parsed = PostgresURL(dsn, **options)  # type: ignore[arg-type]
    if parsed.min_size > parsed.max_size:
        raise ConfigurationError(
            f"PostgreSQL store URL: min_size={parsed.min_size} is above max_size={parsed.max_size}"
        )
    return parsed
