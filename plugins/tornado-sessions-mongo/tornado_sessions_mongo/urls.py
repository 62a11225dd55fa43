"""Store URLs: ``mongodb://`` and ``mongodb+srv://`` read into client arguments.

A store URL is a MongoDB connection string plus options of the store's own
(:data:`STORE_OPTIONS`)::

    mongodb://user:pw@host1,host2/app?replicaSet=rs0&collection=sessions&cleanup_interval=30

- the path names the database (default ``tornado_sessions``); it stays in the
  URL the driver gets, where it is also the default authentication database;
- ``collection`` (default ``sessions``) and ``cleanup_interval`` (seconds, used
  only when the server refuses TTL indexes) are taken out of the query;
- every other option must be one of PyMongo's connection-string options, with a
  value PyMongo accepts; it goes to the driver untouched, byte for byte.

Any other name (``?colection=``), a store option given twice, or a value the
driver refuses is a :class:`~tornado_sessions.errors.ConfigurationError` raised
when the store is built, listing the valid options.  (PyMongo itself only warns
about an unknown option and ignores it: a misspelt ``collection`` would put the
sessions somewhere else without a word.)

:func:`timeout_options` derives the driver's timeouts from the core's
``store_timeout``, for each one the URL does not set itself.

Importing this module does not import PyMongo; :func:`parse_store_url` does.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DATABASE",
    "SCHEMES",
    "STORE_OPTIONS",
    "StoreURL",
    "parse_store_url",
    "timeout_options",
]

SCHEMES = ("mongodb", "mongodb+srv")
DEFAULT_DATABASE = "tornado_sessions"
DEFAULT_COLLECTION = "sessions"

#: The options the store reads itself (taken out of the URL the driver gets).
STORE_OPTIONS: dict[str, str] = {
    "collection": f"the collection the sessions live in (default {DEFAULT_COLLECTION})",
    "cleanup_interval": "seconds between deletions of expired sessions, used only when the "
    "server refuses TTL indexes (default 60)",
}

#: The share of the store timeout a URL-built client gets to find a server.  Less
#: than the whole: an unreachable server then fails with PyMongo's own error, which
#: names the host and the cause ("Connection refused"), before the store's deadline.
SERVER_SELECTION_SHARE = 0.5


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
    #: The hosts of the URL, without credentials: ``h1:27017,h2:27017``.
    hosts: str


def parse_store_url(url: str) -> StoreURL:
    """Take a store URL apart, checking every option.

    :raises ConfigurationError: for another scheme, an unknown option, or a value
        the store or the driver cannot use.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"a MongoDB store URL starts with mongodb:// or mongodb+srv://, not {parts.scheme!r}://"
        )
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise ConfigurationError(f"MongoDB store URL {_redact(url)!r} names no host")
    database = unquote(parts.path.lstrip("/")) or None

    own: dict[str, str] = {}
    kept: list[str] = []
    driver_options: set[str] = set()
    for item in _query_items(parts.query):
        raw_name, _, value = item.partition("=")
        name = unquote_plus(raw_name)
        if name in STORE_OPTIONS:
            if name in own:
                raise ConfigurationError(f"the MongoDB store URL gives {name!r} twice")
            own[name] = unquote_plus(value)
        else:
            kept.append(item)
            driver_options.add(name.lower())
    if kept:
        _check_driver_options(kept)

    collection = own.get("collection")
    if collection is not None:
        _check_collection(collection)
    cleanup_interval = None
    if "cleanup_interval" in own:
        try:
            cleanup_interval = float(own["cleanup_interval"])
        except ValueError:
            cleanup_interval = -1.0
        if not 0 < cleanup_interval < 10 * 365 * 86400:
            raise ConfigurationError(
                f"the MongoDB store URL's cleanup_interval must be a positive number of "
                f"seconds, not {own['cleanup_interval']!r}"
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
        hosts=hosts,
    )


def timeout_options(parsed: StoreURL, timeout: float | None) -> dict[str, Any]:
    """Client keyword arguments for a store whose calls may take ``timeout`` seconds.

    ``serverSelectionTimeoutMS`` and ``connectTimeoutMS`` get
    :data:`SERVER_SELECTION_SHARE` of it, so an unreachable server is reported with
    its cause before the store's deadline.  ``timeoutMS`` is not set: PyMongo's
    operation timeout would replace the server selection timeout by the time left
    (the store bounds each call itself).  An option the URL sets is left to the
    URL; ``None`` adds nothing.
    """
    if timeout is None:
        return {}
    if not timeout > 0:
        raise ConfigurationError(f"the store timeout must be positive, not {timeout!r}")
    selection = max(1, round(timeout * SERVER_SELECTION_SHARE * 1000))
    defaults = {"serverSelectionTimeoutMS": selection, "connectTimeoutMS": selection}
    return {
        name: value
        for name, value in defaults.items()
        if name.lower() not in parsed.driver_options
    }


def driver_option_names() -> list[str]:
    """The connection-string options PyMongo knows (lower case: they are case-insensitive)."""
    from pymongo import common

    return sorted(common.URI_OPTIONS_VALIDATOR_MAP)


def _check_driver_options(items: list[str]) -> None:
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import split_options

    known = set(driver_option_names())
    for item in items:
        name = unquote_plus(item.partition("=")[0])
        if name.lower() not in known:
            raise ConfigurationError(_unknown_option(name, sorted(known)))
    try:
        split_options("&".join(items), validate=True, warn=False)
    except (PyMongoError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"bad option in the MongoDB store URL: {exc}") from exc


def _unknown_option(name: str, driver_names: list[str]) -> str:
    message = f"unknown MongoDB store URL option {name!r}"
    candidates = {option.lower(): option for option in [*driver_names, *STORE_OPTIONS]}
    near = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.6)
    if near:
        message += f" (did you mean {candidates[near[0]]!r}?)"
    own = ", ".join(STORE_OPTIONS)
    return (
        f"{message}; the store's own options are {own}, and every other option must be "
        f"one of PyMongo's connection-string options (case-insensitive): "
        f"{', '.join(driver_names)}"
    )


def _check_collection(name: str) -> None:
    problem = None
    if not name:
        problem = "is empty"
    elif "$" in name or "\x00" in name:
        problem = "holds '$' or a NUL character"
    elif name.startswith(".") or name.endswith("."):
        problem = "starts or ends with '.'"
    elif name.startswith("system."):
        problem = "starts with 'system.' (reserved by MongoDB)"
    if problem:
        raise ConfigurationError(
            f"the MongoDB store URL's collection option {name!r} {problem}: "
            "name a collection such as 'sessions'"
        )


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
