"""``SessionMixin``: sessions for a ``RequestHandler``, loaded lazily, saved in time.

Mix it in before ``RequestHandler``::

    class Cart(SessionMixin, tornado.web.RequestHandler):
        async def post(self):
            session = await self.get_session()
            session["items"] = session.get("items", []) + [self.get_argument("sku")]

Loading is lazy: the store is read in :meth:`~SessionMixin.get_session`, so a
handler that never asks for its session makes no store call and sends no cookie.

Saving is automatic and happens *before* the response leaves.  Tornado's
``on_finish()`` runs after the response is sent, too late to report a failed
write, so the mixin wraps :meth:`~tornado.web.RequestHandler.finish` and
:meth:`~tornado.web.RequestHandler.flush` instead: the first of them commits the
session (:mod:`tornado_sessions.commit`), and when the commit needs the store it
holds the response in a task until the write is done, then lets Tornado send
the headers (with the cookie) and the body.  So the client's next request always
sees the write, and:

- a store failure or timeout turns the response into a **503** (a store error
  escaping a handler too), with no ``Set-Cookie``; the failure is logged with its
  cause once, and then once in a while during an outage, not once per request;
- a value that cannot be serialized fails the request with **500**, the key
  named in the log, before anything is written;
- a streamed response (an early ``flush()``) gets its cookie on the first flush;
  changes made after it still reach the store at ``finish()``, but a new or
  cleared cookie can no longer be sent (logged as a warning);
- a response that already failed with a 5xx status saves nothing and sets no
  cookie;
- after ``finish()``, changing the session or calling ``get_session()`` raises
  :class:`~tornado_sessions.errors.SessionFinishedError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from tornado.iostream import StreamClosedError

from .commit import PendingWrite, cookie_headers, plan_commit, run_write
from .decide import CLEAR, FINISHED, SET
from .errors import (
    ConfigurationError,
    SerializationError,
    SessionFinishedError,
    SessionNotLoadedError,
    StoreError,
)
from .loading import load_session
from .runtime import SessionRuntime
from .session import Session
from .startup import already_reported, failure_log, runtime_for_request

if TYPE_CHECKING:
    from tornado.web import RequestHandler as _HandlerBase
else:
    _HandlerBase = object

__all__ = ["SessionMixin"]

log = logging.getLogger("tornado_sessions")


class SessionMixin(_HandlerBase):
    """Adds ``get_session()`` and ``session`` to a ``RequestHandler`` and saves at the end.

    Set ``preload_session = True`` on a handler class to load the session in
    :meth:`prepare`, after which ``self.session`` can be used directly (in
    templates, or in synchronous methods).  A handler that overrides
    ``prepare()`` must call ``await super().prepare()`` for this to work.
    """

    #: Load the session in ``prepare()`` instead of on the first ``get_session()``.
    preload_session: ClassVar[bool] = False

    _session: Session | None = None
    _session_runtime: SessionRuntime | None = None
    #: finish() was called: the final commit has started (or the response had no session)
    _session_closing = False
    #: the mixin let the response's headers go out
    _session_headers_sent = False
    #: the id whose cookie went out with the headers (to tell a later cookie change)
    _session_sent_id: str | None = None
    #: flush() was called (the headers may be gone: no new cookie could reach the browser)
    _session_flushed = False
    #: a commit's store write (and what follows it) still running
    _session_writing: asyncio.Future[None] | None = None

    async def get_session(self) -> Session:
        """The session of this request, read from the store on the first call only.

        :raises SessionFinishedError: the response is already finished.
        """
        session = self._session
        if session is not None:
            return session
        if self._session_closing:
            raise SessionFinishedError(
                "get_session() after finish(): the response is finished, so nothing "
                "done to a session now could reach the store or the cookie"
            )
        runtime = await runtime_for_request(self.application)
        session = await load_session(runtime, self, renew=not self._session_flushed)
        if self._session is not None:  # another coroutine of this handler won the race
            return self._session
        self._session_runtime = runtime
        self._session = session
        return session

    @property
    def session(self) -> Session:
        """The loaded session; raises :class:`SessionNotLoadedError` before it is loaded."""
        session = self._session
        if session is None:
            raise SessionNotLoadedError(
                f"{type(self).__name__}.session was used before the session was loaded: "
                "call 'session = await self.get_session()' first, or set "
                "'preload_session = True' on the handler class to load it in prepare()"
            )
        return session

    async def prepare(self) -> None:
        """Load the session when ``preload_session`` is set, then run the next ``prepare``."""
        if self.preload_session:
            await self.get_session()
        result: Any = super().prepare()
        if result is not None:
            await result

    # -- the response -----------------------------------------------------------

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Commit the session before the headers first go out, then flush as Tornado does."""
        self._session_flushed = True
        if self._session is None or self._session_headers_sent:
            return super().flush(include_footers)
        if self._session_closing:  # finish() has committed and is sending the response now
            return self._send_headers_and_flush(include_footers)
        if self._writing():
            return self._after_writing(lambda: self.flush(include_footers))
        return self._commit_then(lambda: self._send_headers_and_flush(include_footers))

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Commit the session (awaiting any store write), then finish as Tornado does."""
        if self._session_closing:
            writing = self._session_writing
            if writing is not None and not writing.done():
                # Tornado's own finish() after a handler's finish() that is still
                # writing: the write's continuation finishes the response.
                return writing
            return super().finish(chunk)
        self._session_closing = True
        if self._session is None:
            return super().finish(chunk)
        if chunk is not None:
            self.write(chunk)
        if self._writing():  # a flush()'s commit is still writing: commit again after it
            return self._after_writing(lambda: self._commit_then(self._finish_now))
        return self._commit_then(self._finish_now)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """As Tornado's, but a :class:`StoreError` escaping a handler gives 503, not 500."""
        exc_info = kwargs.get("exc_info")
        if status_code == 500 and exc_info and isinstance(exc_info[1], StoreError):
            status_code = 503
        super().send_error(status_code, **kwargs)

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """As Tornado's, but store failures and reported configuration errors log briefly.

        A store outage fails every request the same way: its cause is logged once
        and then once in a while (with a count), never a traceback per request.
        """
        if isinstance(value, StoreError):
            failure_log(self.application).failed(value, status=503)
            return
        if isinstance(value, ConfigurationError) and already_reported(self.application, value):
            return
        super().log_exception(typ, value, tb)

    # -- internals --------------------------------------------------------------

    def _writing(self) -> bool:
        writing = self._session_writing
        return writing is not None and not writing.done()

    def _after_writing(self, then: Callable[[], asyncio.Future[None]]) -> asyncio.Future[None]:
        """Run ``then`` once the commit still writing is done (it handles its own failure)."""
        writing = self._session_writing
        assert writing is not None

        async def wait_then() -> None:
            await asyncio.shield(writing)
            await then()

        return self._track(wait_then())

    def _commit_then(self, send: Callable[[], asyncio.Future[None]]) -> asyncio.Future[None]:
        """Commit the session, then ``send`` (flush or finish): at once if no store call."""
        session, runtime = self._session, self._session_runtime
        assert session is not None and runtime is not None
        if session.stage is FINISHED:  # an earlier commit failed and ended the response
            return _done()
        if self.get_status() >= 500:  # a failed response saves nothing
            return send()
        try:
            pending = plan_commit(runtime, session)
        except SerializationError as exc:
            log.error("session not saved, answering 500: %s", exc)
            return self._fail(500)
        if pending is None:
            return send()
        return self._track(self._write_then(runtime, pending, send))

    async def _write_then(
        self,
        runtime: SessionRuntime,
        pending: PendingWrite,
        send: Callable[[], asyncio.Future[None]],
    ) -> None:
        try:
            await run_write(runtime, pending)
        except StoreError as exc:
            self._store_failed(runtime, exc)
            return
        except Exception:
            log.exception("unexpected error while saving the session; answering 500")
            self._fail(500)
            return
        try:
            await send()
        except StreamClosedError:
            log.debug("client went away before the response was sent")

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_task(work)
        self._session_writing = future
        return future

    def _finish_now(self) -> asyncio.Future[None]:
        session = self._session
        assert session is not None
        if self._session_headers_sent:
            self._warn_if_cookie_changed(session)
        else:
            self._send_session_headers()
        session.finish()
        return super().finish()

    def _send_headers_and_flush(self, include_footers: bool) -> asyncio.Future[None]:
        self._send_session_headers()
        return super().flush(include_footers)

    def _send_session_headers(self) -> None:
        """Add the session's headers, just before Tornado writes the response's headers."""
        self._session_headers_sent = True
        session, runtime = self._session, self._session_runtime
        assert session is not None and runtime is not None
        self.add_header("Vary", "Cookie")
        if self.get_status() >= 500:
            return  # never a cookie for a record that was not written
        self._session_sent_id = session.id
        headers = cookie_headers(runtime, session, self.request)
        for header in headers:
            self.add_header("Set-Cookie", header)
        if headers:
            self.set_header("Cache-Control", "no-store")
        if runtime.options.clear_site_data and session.destroyed:
            self.set_header("Clear-Site-Data", '"cookies", "storage"')

    def _warn_if_cookie_changed(self, session: Session) -> None:
        decision = session.pending_cookie
        if decision is CLEAR or (decision is SET and session.id != self._session_sent_id):
            log.warning(
                "the session cookie changed after the response headers were sent "
                "(regenerate() or destroy() after flush()); the browser keeps its old "
                "cookie: change the session before the first flush()"
            )

    def _store_failed(self, runtime: SessionRuntime, error: StoreError) -> None:
        failure_log(self.application).failed(error, status=503)
        if self._session_headers_sent:
            # Too late for a status code: cut the response short instead of letting it
            # look complete, so the client can tell it failed.
            log.warning(
                "the session could not be saved after the response had started; "
                "closing the connection so that it does not look complete"
            )
            self._session_writing = None
            self._session_closing = True
            if self._session is not None:
                self._session.finish()
            connection = self.request.connection
            if connection is not None:
                connection.close()  # type: ignore[attr-defined]
            return
        self._fail(503)

    def _fail(self, status_code: int) -> asyncio.Future[None]:
        """Answer ``status_code`` instead of the handler's response."""
        self._session_writing = None
        self._session_closing = True
        if self._session is not None:
            self._session.finish()
        self.send_error(status_code)
        return _done()


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
