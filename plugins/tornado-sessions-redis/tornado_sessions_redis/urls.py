"""Store URLs: which schemes and query options mean what, and the client a URL builds.

Schemes:

- ``redis://[[user]:[password]@]host[:port][/db]`` -- TCP;
- ``rediss://...`` -- TCP with TLS;
- ``unix://[[user]:[password]@]/path/to/redis.sock[?db=N]`` -- a Unix socket;
- ``redis+cluster://host:port`` and ``rediss+cluster://host:port`` -- Redis Cluster,
  discovered from that node (``?cluster=true`` on a ``redis://`` URL does the same).

Query options: the store's own (:data:`STORE_OPTIONS`, removed before the URL
reaches redis-py) and the redis-py options the store passes on
(:data:`CLIENT_OPTIONS`, ``ssl_*`` ones only on TLS URLs).  Any other name is a
:class:`~tornado_sessions.errors.ConfigurationError` that lists the valid ones,
raised when the store is built: a misspelt ``?prefx=`` must not quietly become
the default prefix.  ``decode_responses`` is refused: session values are bytes.
So are socket timeouts of zero or less, a path or ``?db=`` that is not a database
number (redis-py would quietly use database 0 for ``redis://host/sessions``), and a
URL naming two databases (``redis://host/2?db=5``: redis-py would quietly use 5).

The client a single-node URL builds is the plugin's own
:class:`~tornado_sessions_redis.multiplexed.MultiplexedClient` (one connection,
every command pipelined), unless the URL says ``client=redis-py`` or sets an
option that configures redis-py's connection pool (:data:`REDIS_PY_OPTIONS`:
``max_connections``, ``health_check_interval``, ``protocol``).  Cluster URLs
always build a ``redis.asyncio.RedisCluster``.  Either client gets both socket
timeouts set to the store timeout (unless the URL sets them); redis-py's retries
are off: the store contract leaves retrying to the caller, and a retry would
stretch a failure past the timeout.  Both read the URL the same way (redis-py's
``parse_url``), so an option means the same thing to both.

:func:`parse_url` needs nothing but the standard library; only :func:`connect`
imports redis-py, so finding this plugin costs no driver import.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = [
    "CLIENTS",
    "CLIENT_OPTIONS",
    "DEFAULT_PREFIX",
    "REDIS_PY_OPTIONS",
    "SCHEMES",
    "STORE_OPTIONS",
    "TLS_OPTIONS",
    "ParsedURL",
    "connect",
    "parse_url",
]

#: Prepended to every store key, so sessions can share a database with other data.
DEFAULT_PREFIX = "tornado_sessions:"

#: URL scheme -> (scheme redis-py understands, cluster?).
SCHEMES: dict[str, tuple[str, bool]] = {
    "redis": ("redis", False),
    "rediss": ("rediss", False),
    "unix": ("unix", False),
    "redis+cluster": ("redis", True),
    "rediss+cluster": ("rediss", True),
}

#: Options the store reads itself.
STORE_OPTIONS: dict[str, str] = {
    "prefix": "prepended to every session key (default tornado_sessions:; empty for none)",
    "cluster": "true/false: Redis Cluster (same as the +cluster schemes)",
    "client": "multiplexed (default: one pipelined connection) or redis-py (a pool)",
}

#: The ``client`` option's values.
CLIENTS = ("multiplexed", "redis-py")

#: Options of redis-py's connection pool: a single-node URL with any of them uses redis-py.
REDIS_PY_OPTIONS = frozenset({"max_connections", "health_check_interval", "protocol"})

#: redis-py options passed on, on every scheme.
CLIENT_OPTIONS: dict[str, str] = {
    "db": "database number (single node only; a cluster has only 0)",
    "username": "ACL user name (or in the URL: redis://user:password@host)",
    "password": "password (or in the URL); never shown in logs or repr",
    "socket_timeout": "seconds to wait for a reply (default: store_timeout)",
    "socket_connect_timeout": "seconds to wait for a connection (default: store_timeout)",
    "socket_keepalive": "true/false: TCP keepalive",
    "max_connections": "connections per pool (per node on a cluster)",
    "health_check_interval": "seconds idle before a PING checks a pooled connection",
    "client_name": "CLIENT SETNAME for each connection",
    "protocol": "2 or 3 (RESP version)",
}

#: redis-py options passed on, on TLS URLs (``rediss://``, ``rediss+cluster://``) only.
TLS_OPTIONS: dict[str, str] = {
    "ssl_cert_reqs": "none, optional or required (default required)",
    "ssl_ca_certs": "path of the CA bundle",
    "ssl_ca_path": "directory of CA certificates",
    "ssl_certfile": "client certificate (mutual TLS)",
    "ssl_keyfile": "client certificate's key",
    "ssl_check_hostname": "true/false",
    "ssl_min_version": "lowest TLS version (e.g. TLSv1_2)",
}

#: Options in seconds: a number, if given, must be positive (0 would fail every command).
_SECONDS = ("socket_timeout", "socket_connect_timeout")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_REFUSED = {
    "decode_responses": "session values are bytes; the store decodes nothing",
    "retry_on_timeout": "the store does not retry (the core answers 503 and the client retries)",
    "retry_on_error": "the store does not retry (the core answers 503 and the client retries)",
}


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """A store URL split into what the store uses and what redis-py gets."""

    #: The URL for redis-py: standard scheme, the store's own options removed.
    client_url: str
    prefix: str | None
    cluster: bool
    #: Query options the URL gives to redis-py, by name (to know what it overrides).
    client_options: frozenset[str]
    #: ``host:port`` (or the socket path) without credentials, for messages.
    address: str
    #: Which client a single node gets: ``"multiplexed"`` or ``"redis-py"`` (see above).
    client: str = "multiplexed"


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"Redis store URL option {name}={value!r} is not a boolean")


def _unknown_option(name: str, tls: bool) -> ConfigurationError:
    if name in TLS_OPTIONS:
        return ConfigurationError(
            f"Redis store URL option {name!r} applies to TLS URLs (rediss://, "
            "rediss+cluster://) only"
        )
    valid = [*STORE_OPTIONS, *CLIENT_OPTIONS, *(TLS_OPTIONS if tls else ())]
    message = f"unknown Redis store URL option {name!r}"
    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if near:
        message += f" (did you mean {near[0]!r}?)"
    return ConfigurationError(f"{message}; valid options: {', '.join(valid)}")


def _address(parts: Any, scheme: str) -> str:
    if scheme == "unix":
        return f"unix:{parts.path}"
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 6379
    except ValueError as exc:
        raise ConfigurationError(f"invalid Redis store URL: {exc}") from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_seconds(name: str, value: str) -> None:
    """Refuse a number of seconds that is not positive (a non-number is redis-py's to refuse)."""
    try:
        seconds = float(value)
    except ValueError:
        return
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigurationError(
            f"Redis store URL option {name}={value!r}: a positive number of seconds"
        )


def _check_database(path: str) -> None:
    """The path of a TCP URL names a database, or nothing: redis-py would ignore anything else."""
    number = path.strip("/")
    if number and not (number.isascii() and number.isdigit()):
        raise ConfigurationError(
            f"Redis store URL path {path!r} is not a database number "
            "(redis://host:port/N, N = 0, 1, ...)"
        )


def _check_one_database(path: str, options: list[tuple[str, str]]) -> None:
    """A URL names its database once: ``redis://host/2?db=5`` is refused, not read as 5.

    redis-py lets ``?db=`` win over the path without a word, so a URL edited in one
    place and not the other would quietly put the sessions in another database.
    """
    named = [path.strip("/")] if path.strip("/") else []
    for name, value in options:
        if name != "db":
            continue
        if not (value.isascii() and value.isdigit()):
            raise ConfigurationError(
                f"Redis store URL option db={value!r} is not a database number (0, 1, ...)"
            )
        named.append(value)
    numbers = {int(value) for value in named}
    if len(numbers) > 1:
        raise ConfigurationError(
            f"the Redis store URL names more than one database ({', '.join(named)}, in its "
            "path and ?db=): keep one"
        )


def parse_url(url: str, *, cluster: bool | None = None) -> ParsedURL:
    """Split a store URL; raise :class:`ConfigurationError` for what cannot work.

    ``cluster``, when given, overrides what the scheme and the ``cluster`` option say.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{name}://" for name in SCHEMES)
        raise ConfigurationError(f"the Redis store serves {known}, not {parts.scheme!r} URLs")
    client_scheme, use_cluster = SCHEMES[scheme]
    tls = client_scheme == "rediss"
    prefix: str | None = None
    client: str | None = None
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _REFUSED:
            raise ConfigurationError(f"Redis store URL option {name!r}: {_REFUSED[name]}")
        if name == "prefix":
            prefix = value
        elif name == "client":
            if value not in CLIENTS:
                raise ConfigurationError(
                    f"Redis store URL option client={value!r}: use one of {', '.join(CLIENTS)}"
                )
            client = value
        elif name == "cluster":
            if use_cluster and not _flag(name, value):
                raise ConfigurationError(f"{scheme}:// URLs are Redis Cluster; cluster={value}?")
            use_cluster = _flag(name, value)
        elif name in CLIENT_OPTIONS or (tls and name in TLS_OPTIONS):
            if name in _SECONDS and value.strip():
                _check_seconds(name, value)
            rest.append((name, value))
        else:
            raise _unknown_option(name, tls)
    if cluster is not None:
        use_cluster = cluster
    if use_cluster and client_scheme == "unix":
        raise ConfigurationError("Redis Cluster cannot be reached over a unix:// socket")
    if client_scheme != "unix":
        _check_database(parts.path)
    _check_one_database(parts.path if client_scheme != "unix" else "", rest)
    if client is None:
        client = "redis-py" if any(name in REDIS_PY_OPTIONS for name, _ in rest) else CLIENTS[0]
    query = urlencode(rest)
    client_url = f"{client_scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return ParsedURL(
        client_url,
        prefix,
        use_cluster,
        frozenset(name for name, _ in rest),
        _address(parts, client_scheme),
        "redis-py" if use_cluster else client,
    )


def connect(parsed: ParsedURL, timeout: float | None) -> Any:
    """Build (without connecting) the asyncio client a parsed URL describes."""
    if parsed.client == "multiplexed" and not parsed.cluster:
        return _multiplexed(parsed, timeout)
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    kwargs: dict[str, Any] = {"retry": Retry(NoBackoff(), 0)}
    if timeout is not None:
        for option in ("socket_timeout", "socket_connect_timeout"):
            if option not in parsed.client_options:
                kwargs[option] = timeout
    try:
        if parsed.cluster:
            return RedisCluster.from_url(parsed.client_url, **kwargs)
        client = Redis.from_url(parsed.client_url, **kwargs)
        # The pool makes connections on first use; make one now (it does not connect)
        # so that a value of the wrong type fails here, not on every request.
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
        return client
    except Exception as exc:  # ValueError, TypeError, RedisClusterException (a db number)...
        raise ConfigurationError(f"invalid Redis store URL: {exc}") from exc


def _multiplexed(parsed: ParsedURL, timeout: float | None) -> Any:
    """The plugin's own client, configured from the URL as redis-py would read it."""
    from redis.asyncio.connection import (
        RedisSSLContext,
        SSLConnection,
        UnixDomainSocketConnection,
    )
    from redis.asyncio.connection import parse_url as redis_py_parse_url

    from .multiplexed import ConnectionSettings, MultiplexedClient

    try:
        kwargs: dict[str, Any] = dict(redis_py_parse_url(parsed.client_url))
        kind = kwargs.pop("connection_class", None)
        tls = None
        if kind is SSLConnection:
            context = RedisSSLContext(
                keyfile=kwargs.pop("ssl_keyfile", None),
                certfile=kwargs.pop("ssl_certfile", None),
                cert_reqs=kwargs.pop("ssl_cert_reqs", "required"),
                ca_certs=kwargs.pop("ssl_ca_certs", None),
                ca_path=kwargs.pop("ssl_ca_path", None),
                check_hostname=kwargs.pop("ssl_check_hostname", True),
                min_version=kwargs.pop("ssl_min_version", None),
            )
            tls = context.get
        settings = ConnectionSettings(
            host=kwargs.pop("host", "localhost"),
            port=int(kwargs.pop("port", 6379)),
            path=kwargs.pop("path", None) if kind is UnixDomainSocketConnection else None,
            db=int(kwargs.pop("db", 0)),
            username=kwargs.pop("username", None),
            password=kwargs.pop("password", None),
            command_timeout=timeout,
            socket_timeout=kwargs.pop("socket_timeout", timeout),
            socket_connect_timeout=kwargs.pop("socket_connect_timeout", timeout),
            socket_keepalive=bool(kwargs.pop("socket_keepalive", False)),
            client_name=kwargs.pop("client_name", None),
            tls=tls,
        )
    except Exception as exc:  # ValueError, RedisError (an unknown ssl_cert_reqs)...
        raise ConfigurationError(f"invalid Redis store URL: {exc}") from exc
    if kwargs:  # parse_url gave something this client does not know: a bug here
        raise ConfigurationError(f"invalid Redis store URL: unsupported options {sorted(kwargs)}")
    return MultiplexedClient(settings)
