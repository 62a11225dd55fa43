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

The client is built with both socket timeouts set to the store timeout (unless
the URL sets them) and with redis-py's retries off: the store contract leaves
retrying to the caller, and a retry would stretch a failure past the timeout.

:func:`parse_url` needs nothing but the standard library; only :func:`connect`
imports redis-py, so finding this plugin costs no driver import.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tornado_sessions.errors import ConfigurationError

__all__ = [
    "CLIENT_OPTIONS",
    "DEFAULT_PREFIX",
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
}

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
    return f"{host}:{port}"


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
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _REFUSED:
            raise ConfigurationError(f"Redis store URL option {name!r}: {_REFUSED[name]}")
        if name == "prefix":
            prefix = value
        elif name == "cluster":
            if use_cluster and not _flag(name, value):
                raise ConfigurationError(f"{scheme}:// URLs are Redis Cluster; cluster={value}?")
            use_cluster = _flag(name, value)
        elif name in CLIENT_OPTIONS or (tls and name in TLS_OPTIONS):
            rest.append((name, value))
        else:
            raise _unknown_option(name, tls)
    if cluster is not None:
        use_cluster = cluster
    if use_cluster and client_scheme == "unix":
        raise ConfigurationError("Redis Cluster cannot be reached over a unix:// socket")
    query = urlencode(rest)
    client_url = f"{client_scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return ParsedURL(
        client_url,
        prefix,
        use_cluster,
        frozenset(name for name, _ in rest),
        _address(parts, client_scheme),
    )


def connect(parsed: ParsedURL, timeout: float | None) -> Any:
    """Build (without connecting) the asyncio client a parsed URL describes."""
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
