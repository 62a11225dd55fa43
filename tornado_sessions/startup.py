"""Start-up and shutdown: :func:`open_sessions`, :func:`close_sessions`, and the first request.

Call ``await open_sessions(app)`` before the server takes traffic::

    app = tornado.web.Application(handlers, sessions=SessionOptions(...))
    await open_sessions(app)          # a mistake raises here, with a message saying what to fix
    app.listen(8888)

It reads the application's ``sessions`` setting, checks it, resolves the secret,
the serializer and the store's plugin, opens the store (``Store.open()``) and
makes one round trip to it.  Every configuration mistake raises
:class:`~tornado_sessions.errors.ConfigurationError` and an unreachable store
:class:`~tornado_sessions.errors.StoreError`, naming the cause, before the
first request.

An application that never calls it gets the same on its first request that
needs a session: a configuration mistake is then logged once at ERROR (every
later request answers 500 without logging it again); an unreachable store
answers 503 and is tried again on the next request.

:func:`close_sessions` is its pair, for shutdown.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errorlog import FailureLog
from .errors import ConfigurationError, StoreError
from .observers import Observers
from .options import SessionOptions
from .registry import create_store, get_plugin_manager, get_serializer
from .runtime import SessionRuntime
from .stores.base import Store

if TYPE_CHECKING:
    import tornado.web

__all__ = ["PROBE_KEY", "close_sessions", "open_sessions", "runtime_for_request", "session_runtime"]

log = logging.getLogger("tornado_sessions")

#: A store key no session can have (ids are 22+ characters), read once at start-up.
PROBE_KEY = "tornado-sessions-startup-probe"

_runtimes: weakref.WeakKeyDictionary[Any, SessionRuntime] = weakref.WeakKeyDictionary()
_opening: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
#: Store failures of each application, logged once in a while (see errorlog).
_failure_logs: weakref.WeakKeyDictionary[Any, FailureLog] = weakref.WeakKeyDictionary()
#: Configuration errors found by a first request, already logged once.
_broken: weakref.WeakKeyDictionary[Any, ConfigurationError] = weakref.WeakKeyDictionary()


def session_runtime(application: tornado.web.Application) -> SessionRuntime | None:
    """The opened runtime of ``application``, or ``None`` before :func:`open_sessions`."""
    return _runtimes.get(application)


async def open_sessions(
    application: tornado.web.Application, *, probe: bool = True
) -> SessionRuntime:
    """Check the ``sessions`` setting, open the store, make one round trip.  Idempotent.

    ``probe=False`` skips the round trip (a read of a key no session has).

    :raises ConfigurationError: a setting is missing or wrong (the message says which
        and what to write instead).
    :raises StoreError: the store could not be opened or did not answer.
    """
    runtime = _runtimes.get(application)
    if runtime is not None:
        return runtime
    lock = _opening.setdefault(application, asyncio.Lock())
    async with lock:
        runtime = _runtimes.get(application)
        if runtime is None:
            runtime = await _open(application.settings, failure_log(application), probe)
            _runtimes[application] = runtime
    return runtime


async def close_sessions(application: tornado.web.Application) -> None:
    """Close the store of ``application`` (connections, background tasks).

    Call it on shutdown, after the HTTP server stopped accepting requests.  Safe
    to call when sessions were never opened, and more than once.
    """
    runtime = _runtimes.pop(application, None)
    if runtime is not None:
        await runtime.observers.drain()
        await runtime.store.close()


async def runtime_for_request(application: tornado.web.Application) -> SessionRuntime:
    """The runtime a request uses, opened now if the application never called open_sessions."""
    runtime = _runtimes.get(application)
    if runtime is not None:
        return runtime
    known = _broken.get(application)
    if known is not None:
        raise known
    try:
        # The request's own store call is the round trip: no probe, so a request that
        # needs no store call is not failed by one.
        return await open_sessions(application, probe=False)
    except ConfigurationError as exc:
        _broken[application] = exc
        log.error(
            "sessions are misconfigured, so every request that uses them fails with 500 "
            "until it is fixed (call 'await open_sessions(app)' at start-up to find this "
            "before serving): %s",
            exc,
        )
        raise


def failure_log(application: tornado.web.Application) -> FailureLog:
    """Where ``application``'s store failures are logged (once in a while, not per request)."""
    found = _failure_logs.get(application)
    if found is None:
        found = _failure_logs[application] = FailureLog()
    return found


def already_reported(application: tornado.web.Application, error: BaseException) -> bool:
    """Whether ``error`` is the configuration error a first request already logged."""
    return _broken.get(application) is error


async def _open(settings: Mapping[str, Any], failures: FailureLog, probe: bool) -> SessionRuntime:
    options = _options_from(settings)
    secrets = options.secrets(settings.get("cookie_secret"), settings.get("key_version"))
    serializer = options.serializer
    if isinstance(serializer, str):
        serializer = get_serializer(serializer)
    store = options.store
    if isinstance(store, str):
        store = create_store(store, timeout=options.store_timeout)
    if options.max_sessions_per_owner is not None and "owner_sessions" not in store.capabilities:
        if isinstance(options.store, str):
            await _close_quietly(store)
        raise ConfigurationError(
            f"max_sessions_per_owner needs a store that indexes sessions by owner, and "
            f"{type(store).__name__} has no owner_sessions(): use memory, Redis, MongoDB, "
            "PostgreSQL or SQLite, or leave max_sessions_per_owner unset"
        )
    runtime = SessionRuntime(
        options,
        secrets=secrets,
        store=store,
        serializer=serializer,
        observers=Observers(get_plugin_manager()),
        failures=failures,
    )
    try:
        await runtime.call("open", store.open(), None)
        if probe:
            await runtime.call("load", store.load(PROBE_KEY), None)
    except StoreError as exc:
        if isinstance(options.store, str):
            await _close_quietly(store)
        raise StoreError(
            f"the session store is not usable: {exc}", operation=exc.operation
        ) from exc
    _warn_about(options, store, secrets)
    return runtime


def _options_from(settings: Mapping[str, Any]) -> SessionOptions:
    options = settings.get("sessions")
    if isinstance(options, SessionOptions):
        return options
    if options is None:
        raise ConfigurationError(_missing_setting(settings))
    if isinstance(options, Mapping):
        raise ConfigurationError(
            "the 'sessions' setting must be a SessionOptions, not a dict: write "
            "sessions=SessionOptions(**{...}) so that each option is checked"
        )
    raise ConfigurationError(
        f"the 'sessions' setting must be a SessionOptions, not {type(options).__name__}"
    )


def _missing_setting(settings: Mapping[str, Any]) -> str:
    message = (
        "handlers use SessionMixin, but the application has no 'sessions' setting: add "
        "sessions=SessionOptions(...) to tornado.web.Application(...)"
    )
    misplaced = [name for name, value in settings.items() if isinstance(value, SessionOptions)]
    near = misplaced or difflib.get_close_matches("sessions", list(settings), n=1, cutoff=0.6)
    if near:
        message += f" (there is a {near[0]!r} setting: did you mean 'sessions'?)"
    return message


def _warn_about(options: SessionOptions, store: Store, secrets: list[bytes]) -> None:
    if len(secrets[0]) < 32:
        log.warning("the session secret is %d bytes; use at least 32 random bytes", len(secrets[0]))
    if not store.atomic_conditional_writes:
        log.warning(
            "the session store %r does not implement touch and save_changes atomically: a "
            "logout racing another request of the same session can be undone, and "
            "concurrent requests can lose each other's changes (see docs/writing-a-store.md)",
            store,
        )


async def _close_quietly(store: Store) -> None:
    try:
        await store.close()
    except Exception:
        log.debug("closing a store that failed to open failed too", exc_info=True)
