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
(:mod:`tornado_sessions.builtin`).  Every hook is optional.  Observer hooks are
called synchronously on the request path; keep them quick, and do not raise: an
exception from an observer propagates like any handler error.
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
def tornado_sessions_store_error(error: BaseException, operation: str, handler: Any) -> None:
    """A store call failed or timed out; ``operation`` is the store method's name."""
