"""Hook specifications: the whole plugin interface of tornado-sessions.

Plugins are found through the ``tornado_sessions`` entry-point group.  A plugin
distribution declares, in its ``setup.py``::

    entry_points={"tornado_sessions": ["mystore = mystore_package.plugin"]}

and that module implements any of the hooks below, marked with :data:`hookimpl`::

    from tornado_sessions.hooks import hookimpl

    @hookimpl
    def tornado_sessions_add_stores():
        return {"mystore": MyStore.from_url}

The core registers its own memory store and serializers through these same hooks
(:mod:`tornado_sessions.builtin`).  Every hook is optional.

Observer hooks (the ``session_*``, ``store_error`` and ``cookie_rejected`` ones) are
called on the request path, each implementation on its own: one that raises is
logged and the request goes on (:mod:`tornado_sessions.observers`).  A plain
function runs at once, so keep it quick; an ``async def`` one runs in a task of its
own and never holds the response up.  Observers must not change the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .serializers import Serializer
    from .session import Session
    from .stores.base import Store

__all__ = ["PROJECT", "StoreFactory", "hookimpl", "hookspec"]

#: pluggy project name, and the entry-point group plugins are discovered in.
PROJECT = "tornado_sessions"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class StoreFactory(Protocol):
    """Builds a store from a URL.

    ``timeout`` is ``SessionOptions.store_timeout`` (seconds); a factory that
    configures its client with it may set ``enforces_timeout`` on the store.
    """

    def __call__(self, url: str, *, timeout: float) -> Store: ...


# The factory may refuse a URL with a ConfigurationError (unknown option, bad value);
# it must not connect: the core awaits ``store.open()`` for that.


@hookspec
def tornado_sessions_add_stores() -> Mapping[str, StoreFactory]:
    """Return the URL schemes this plugin serves, each mapped to a store factory.

    ``{"redis": RedisStore.from_url, "rediss": RedisStore.from_url}``.  Two
    plugins claiming one scheme is a configuration error when that scheme is used.
    """
    raise NotImplementedError


@hookspec
def tornado_sessions_add_serializers() -> Mapping[str, Serializer]:
    """Return serializers by name, for ``SessionOptions(serializer="name")``."""
    raise NotImplementedError


@hookspec
def tornado_sessions_session_created(session: Session, handler: Any) -> None:
    """A new session was written to the store for the first time."""


@hookspec
def tornado_sessions_session_loaded(session: Session, handler: Any) -> None:
    """An existing session was read from the store for this request."""


@hookspec
def tornado_sessions_session_saved(session: Session, handler: Any) -> None:
    """A session (new or existing) was written, whole or as a delta."""


@hookspec
def tornado_sessions_session_destroyed(session: Session, handler: Any) -> None:
    """A session's record was deleted: ``destroy()``, ``regenerate()`` or ``unset``."""


@hookspec
def tornado_sessions_session_touched(session: Session, handler: Any) -> None:
    """An unmodified session's expiry was extended (``touch_after`` passed, or ``touch()``)."""


@hookspec
def tornado_sessions_store_call(
    operation: str, scheme: str, start_ns: int, duration: float, error: BaseException | None
) -> None:
    """A store call ended: for latency metrics and trace spans.

    ``operation`` is the store method (``"load"``, ``"save_changes"``...), ``scheme``
    the store's URL scheme (or its class name for a store given as an instance),
    ``start_ns`` the wall-clock start (:func:`time.time_ns`), ``duration`` seconds,
    ``error`` the store's exception, or ``None``.  Called in the context (the task and
    its context variables) of the request that made the call, so a tracer's current
    span is the request's.  Never an id or a key.
    """


@hookspec
def tornado_sessions_store_error(error: BaseException, operation: str, handler: Any) -> None:
    """A store call failed or timed out; ``operation`` is the store method's name."""


@hookspec
def tornado_sessions_cookie_rejected(reason: str, handler: Any) -> None:
    """A request's session cookie was not used.

    ``reason`` is ``"bad_signature"`` (forged, tampered, or signed by a retired
    secret), ``"duplicate"`` (the cookie came more than once: cookie tossing) or
    ``"corrupt_record"`` (it named a record the core could not read, now deleted).
    """
