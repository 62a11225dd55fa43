"""Store URLs: ``mongodb://`` and ``mongodb+srv://`` read into client arguments.

A store URL is a MongoDB connection string plus two options of the store's own::

    mongodb://user:pw@host1,host2/app?replicaSet=rs0&collection=sessions&cleanup_interval=30

- the path names the database (default ``tornado_sessions``); it stays in the
  URL the driver gets, where it is also the default authentication database;
- ``collection`` (default ``sessions``) and ``cleanup_interval`` (seconds, used
  only when the server refuses TTL indexes) are taken out of the query;
- every other option goes to the driver untouched, byte for byte.

:func:`timeout_options` adds the driver timeouts derived from the core's
``store_timeout`` for each timeout option the URL does not set itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DATABASE",
    "StoreURL",
    "parse_store_url",
    "timeout_options",
]

SCHEMES = ("mongodb", "mongodb+srv")
DEFAULT_DATABASE = "tornado_sessions"
DEFAULT_COLLECTION = "sessions"
_OWN_OPTIONS = ("collection", "cleanup_interval")
#: Driver options a store timeout sets, unless the URL sets them (names are case-insensitive).
_TIMEOUT_OPTIONS = ("timeoutMS", "serverSelectionTimeoutMS", "connectTimeoutMS")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A store URL taken apart."""

    #: The connection string the driver gets: the store's own options removed.
    client_url: str
    #: The database name from the path, or ``None`` when the URL has none.
    database: str | None
    #: The ``collection`` option, or ``None``.
    collection: str | None
    #: The ``cleanup_interval`` option in seconds, or ``None``.
    cleanup_interval: float | None
    #: Lower-cased names of the driver options the URL sets.
    driver_options: frozenset[str]


def parse_store_url(url: str) -> StoreURL:
    """Take a store URL apart.

    :raises ConfigurationError: for another scheme, or a bad value of the store's own options.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"a MongoDB store URL starts with mongodb:// or mongodb+srv://, not {parts.scheme!r}://"
        )
    if not parts.netloc:
        raise ConfigurationError(f"MongoDB store URL {_redact(url)!r} names no host")
    database = unquote(parts.path.lstrip("/")) or None

    own: dict[str, str] = {}
    kept: list[str] = []
    driver_options: set[str] = set()
    for item in _query_items(parts.query):
        name, _, value = item.partition("=")
        name = unquote_plus(name)
        if name in _OWN_OPTIONS:
            own[name] = unquote_plus(value)
        else:
            kept.append(item)
            driver_options.add(name.lower())

    collection = own.get("collection")
    if collection is not None and not collection:
        raise ConfigurationError("the MongoDB store URL's collection option is empty")
    cleanup_interval = None
    if "cleanup_interval" in own:
        try:
            cleanup_interval = float(own["cleanup_interval"])
        except ValueError:
            cleanup_interval = -1.0
        if not cleanup_interval > 0:
            raise ConfigurationError(
                f"cleanup_interval must be a positive number of seconds, "
                f"not {own['cleanup_interval']!r}"
            )

    client_url = f"{scheme}://{parts.netloc}{parts.path or '/'}"
    if kept:
        client_url += "?" + "&".join(kept)
    return StoreURL(
        client_url=client_url,
        database=database,
        collection=collection,
        cleanup_interval=cleanup_interval,
        driver_options=frozenset(driver_options),
    )


def timeout_options(parsed: StoreURL, timeout: float | None) -> dict[str, Any]:
    """Client keyword arguments bounding driver calls by ``timeout`` seconds.

    An option the URL sets itself is left to the URL.  ``None`` adds nothing.
    """
    if timeout is None:
        return {}
    if not timeout > 0:
        raise ConfigurationError(f"the store timeout must be positive, not {timeout!r}")
    milliseconds = max(1, round(timeout * 1000))
    return {
        name: milliseconds
        for name in _TIMEOUT_OPTIONS
        if name.lower() not in parsed.driver_options
    }


def _query_items(query: str) -> list[str]:
    # The connection-string format separates options with "&" (or, historically, ";").
    separator = ";" if ";" in query and "&" not in query else "&"
    return [item for item in query.split(separator) if item]


def _redact(url: str) -> str:
    """``url`` without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
