"""``SessionRuntime``: what every request of one application shares, and its one way to the store.

A runtime is built once per :class:`tornado.web.Application` by
:func:`~tornado_sessions.startup.open_sessions` (or the first request), from
the application's ``sessions`` setting, and holds:

- the validated options and the rules :func:`~tornado_sessions.decide.decide` reads;
- the store, already opened, and :meth:`SessionRuntime.call`, the only way any
  part of the core talks to it: it bounds the call by ``store_timeout`` (unless
  the store bounds its own calls; one timer for all calls, see
  :mod:`tornado_sessions.stores.timeouts`), turns a failure into
  :class:`~tornado_sessions.errors.StoreError` with the driver's exception
  chained, and tells the observers;
- the serializer, the cookie signer (:class:`~tornado_sessions.tokens.Tokens`) and
  the ``Set-Cookie`` writer (:class:`~tornado_sessions.cookies.CookieWriter`);
- the observers and the store-failure log.

It has no per-request state.  The two corridors a request walks are in their own
modules: :mod:`tornado_sessions.loading` (cookie -> record -> session) and
:mod:`tornado_sessions.commit` (decide -> write -> cookie).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .codec import ValueCodec
from .cookies import CookieWriter
from .decide import Rules
from .encryption import ValueCipher
from .errorlog import FailureLog
from .errors import CorruptRecordError, StoreError, StoreTimeoutError
from .observers import Observers
from .options import SessionOptions
from .serializers import Serializer
from .stores.base import Store
from .stores.timeouts import SharedTimeout
from .tokens import Tokens

__all__ = ["SessionRuntime"]

log = logging.getLogger("tornado_sessions")
T = TypeVar("T")


class SessionRuntime:
    """Everything the requests of one application share; see the module docstring."""

    __slots__ = (
        "_timed",
        "_timeout",
        "codec",
        "cookies",
        "failures",
        "observers",
        "options",
        "rules",
        "scheme",
        "serializer",
        "store",
        "tokens",
    )

    def __init__(
        self,
        options: SessionOptions,
        *,
        secrets: list[bytes],
        store: Store,
        serializer: Serializer,
        observers: Observers,
        failures: FailureLog | None = None,
    ) -> None:
        self.options = options
        self.store = store
        self.serializer = serializer
        keys = options.encryption_key_bytes()
        self.codec = ValueCodec(serializer, ValueCipher(keys) if keys else None)
        self.observers = observers
        self.failures = failures or FailureLog()
        self.tokens = Tokens(secrets, options.name, hash_ids=options.hash_ids, genid=options.genid)
        self.cookies = CookieWriter(
            options.name,
            path=options.cookie_path,
            domain=options.cookie_domain,
            httponly=options.cookie_httponly,
            samesite=options.cookie_samesite,
            partitioned=options.cookie_partitioned,
            secure=options.cookie_secure,
            trust_proxy=options.trust_proxy,
        )
        self.rules = Rules(
            save_uninitialized=options.save_uninitialized,
            resave=options.resave,
            rolling=options.rolling,
            unset_destroy=options.unset == "destroy",
            touch_after=options.touch_after,
        )
        self._timeout = None if store.enforces_timeout else SharedTimeout(options.store_timeout)
        #: the store's URL scheme, or its class name: what observers are told
        self.scheme = (
            urlsplit(options.store).scheme.lower()
            if isinstance(options.store, str)
            else type(store).__name__
        )
        self._timed = observers.caller("tornado_sessions_store_call")

    async def call(self, operation: str, awaitable: Awaitable[T], handler: Any) -> T:
        """Await one store call; a failure or timeout becomes :class:`StoreError`.

        ``operation`` is the store method's name, for messages and observers.
        :class:`~tornado_sessions.errors.CorruptRecordError` passes through: it is
        not a failure of the store but a verdict on what it holds.
        """
        timed = self._timed.get_hookimpls()
        if timed:
            start_ns, started = time.time_ns(), time.perf_counter()
        try:
            if self._timeout is None:
                result = await awaitable
            else:
                result = await self._timeout.run(awaitable)
        except CorruptRecordError:
            raise
        except TimeoutError as exc:
            error: StoreError = StoreTimeoutError(
                f"session store {operation} took longer than {self.options.store_timeout}s "
                f"(store_timeout) on {self.store!r}",
                operation=operation,
            )
            if timed:
                self._report(operation, start_ns, started, exc)
            self._failed(error, exc, handler)
            raise error from exc
        except Exception as exc:
            error = StoreError(
                f"session store {operation} failed on {self.store!r}: {exc}", operation=operation
            )
            if timed:
                self._report(operation, start_ns, started, exc)
            self._failed(error, exc, handler)
            raise error from exc
        if timed:
            self._report(operation, start_ns, started, None)
        self.failures.succeeded()
        return result

    def _report(
        self, operation: str, start_ns: int, started: float, error: BaseException | None
    ) -> None:
        self.observers.notify(
            "tornado_sessions_store_call",
            operation=operation,
            scheme=self.scheme,
            start_ns=start_ns,
            duration=time.perf_counter() - started,
            error=error,
        )

    def _failed(self, error: StoreError, cause: BaseException, handler: Any) -> None:
        error.__cause__ = cause
        self.observers.notify(
            "tornado_sessions_store_error", error=error, operation=error.operation, handler=handler
        )
