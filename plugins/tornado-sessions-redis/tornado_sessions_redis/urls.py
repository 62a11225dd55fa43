"""Store URLs: which schemes and query options mean what, and the client a URL builds.

Schemes:

- ``redis://[[user]:[password]@]host[:port][/db]`` -- TCP;
- ``rediss://...`` -- TCP with TLS;
- ``unix://[[user]:[password]@]/path/to/redis.sock[?db=N]`` -- a Unix socket;
- ``redis+cluster://host:port`` and ``rediss+cluster://host:port`` -- Redis Cluster,
  discovered from that node (``?cluster=true`` on a ``redis://`` URL does the same).

Query options read by the store (and removed before the rest reaches redis-py):

- ``prefix`` -- key prefix, default ``tornado_sessions:``;
- ``cluster`` -- ``true``/``false`` (``1``/``0``, ``yes``/``no``): use Redis Cluster.

Every other query option is redis-py's own and is passed on as it is parsed by
redis-py (``db``, ``socket_timeout``, ``socket_connect_timeout``, ``max_connections``,
``health_check_interval``, ``protocol``, ``ssl_cert_reqs``, ``client_name``...).
``decode_responses`` is refused: session values are bytes.

The client is built with both socket timeouts set to the store timeout (unless
the URL sets them) and with redis-py's retries off: the store contract leaves
retrying to the caller, and a retry would stretch a failure past the timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tornado_sessions.errors import ConfigurationError

__all__ = ["DEFAULT_PREFIX", "SCHEMES", "ParsedURL", "connect", "parse_url"]

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

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_OURS = frozenset({"prefix", "cluster"})
_REFUSED = {"decode_responses": "session values are bytes; the store decodes nothing"}


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """A store URL split into what the store uses and what redis-py gets."""

    #: The URL for redis-py: standard scheme, the store's own options removed.
    client_url: str
    prefix: str | None
    cluster: bool
    #: Query options the URL gives to redis-py, by name (to know what it overrides).
    client_options: frozenset[str]


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"Redis store URL option {name}={value!r} is not a boolean")


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
        else:
            rest.append((name, value))
    if cluster is not None:
        use_cluster = cluster
    if use_cluster and client_scheme == "unix":
        raise ConfigurationError("Redis Cluster cannot be reached over a unix:// socket")
    query = urlencode(rest)
    client_url = f"{client_scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return ParsedURL(client_url, prefix, use_cluster, frozenset(name for name, _ in rest))


def connect(parsed: ParsedURL, timeout: float | None) -> Any:
    """Build (without connecting) the asyncio client a parsed URL describes."""
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
        # so that a misspelt option fails here, not on every request.
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
        return client
    except Exception as exc:  # ValueError, TypeError, RedisClusterException (a db number)...
        raise ConfigurationError(f"invalid Redis store URL: {exc}") from exc
