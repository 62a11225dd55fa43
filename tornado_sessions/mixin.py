"""``SessionMixin``: sessions for a :class:`tornado.web.RequestHandler`, loaded lazily.

Mix it in before ``RequestHandler``::

    class Cart(SessionMixin, tornado.web.RequestHandler):
        async def post(self):
            session = await self.get_session()
            session["items"] = session.get("items", []) + [self.get_argument("sku")]

Loading is lazy: the store is read in :meth:`~SessionMixin.get_session`, so a
handler that never asks for its session makes no store call and sends no cookie.

Saving is automatic and happens *before* the response leaves.  Tornado's
``on_finish()`` is synchronous and runs after the response is sent, so it cannot
be used; instead the mixin wraps :meth:`~tornado.web.RequestHandler.finish` and
:meth:`~tornado.web.RequestHandler.flush`.  When the session needs a store write,
the first of them holds the response, awaits the write, then lets Tornado send
the headers (with the cookie) and body.  The client's next request therefore
always sees the write, and:

- a store failure or timeout turns the response into a **503** (logged, with the
  store's exception chained), and no ``Set-Cookie`` goes out for a record that was
  not written;
- a value that cannot be serialized makes the request fail with **500**, the key
  named in the log, before anything is written;
- a response flushed early (streaming) gets its cookie on the first flush;
  changes made after that still reach the store at ``finish()``, but a cookie
  change can no longer be sent and is logged as a warning;
- a response that already failed with a 5xx status does not save the session.

A commit that needs no store call (a read within ``touch_after``) costs no task
and no timer, and neither does one whose store answers without waiting (the
memory store): the write runs at once (:mod:`tornado_sessions.eager`), and only a
store that really waits gets a task to finish the response when it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, ClassVar

from tornado.iostream import StreamClosedError

from . import eager
from .errors import SessionNotLoadedError, StoreError
from .runtime import Commit, runtime_for
from .session import Session

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
    _session_cookie: str | None = None
    _session_finishing = False
    _session_commit: asyncio.Future[None] | None = None

    async def get_session(self) -> Session:
        """The session of this request, read from the store on the first call only."""
        session = self._session
        if session is None:
            session = await runtime_for(self.application).load(self)
            if self._session is not None:  # another coroutine of this handler won the race
                return self._session
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

    # -- response hooks ---------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """As Tornado's, but a :class:`StoreError` escaping a handler gives 503, not 500."""
        exc_info = kwargs.get("exc_info")
        if status_code == 500 and exc_info and isinstance(exc_info[1], StoreError):
            status_code = 503
        super().send_error(status_code, **kwargs)

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Commit the session before the headers go out, then flush as Tornado does."""
        if self._headers_written:
            return super().flush(include_footers)
        if self._session is not None and not self._session_finishing:
            pending = self._session_commit
            if pending is not None and not pending.done():
                return pending
            commit = self._plan_commit()
            if commit is not None and commit.operation is not None:
                return self._commit_and_send(commit, False, include_footers)
            self._apply_cookie(commit)
        self._emit_session_headers()
        return super().flush(include_footers)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Commit the session (awaiting any store write), then finish as Tornado does."""
        if self._session is None:
            return super().finish(chunk)
        if self._session_finishing:
            future = super().finish(chunk)
            self._release_session()
            return future
        if chunk is not None:
            self.write(chunk)
        pending = self._session_commit
        if pending is not None and not pending.done():
            return self._defer(self._finish_after(pending))
        commit = self._plan_commit()
        if commit is not None and commit.operation is not None:
            return self._commit_and_send(commit, True)
        self._apply_cookie(commit)
        self._session_finishing = True
        future = super().finish()
        self._release_session()
        return future

    # -- internals --------------------------------------------------------------

    def _plan_commit(self) -> Commit | None:
        if self._status_code >= 500:
            return None
        session = self._session
        assert session is not None
        return session._runtime.plan(session)

    def _defer(self, work: Awaitable[None]) -> asyncio.Future[None]:
        future = asyncio.ensure_future(work)
        self._session_commit = future
        return future

    async def _finish_after(self, pending: asyncio.Future[None]) -> None:
        await pending
        if not self._finished:
            await self.finish()

    def _commit_and_send(
        self, commit: Commit, finishing: bool, include_footers: bool = False
    ) -> asyncio.Future[None]:
        """Write, then finish or flush: at once if the store never waits, else in a task."""
        work = self._commit_then(commit, finishing, include_footers)
        store = commit.runtime.store
        if not getattr(store, "never_waits", False):
            # A store that waits, or one the core times out with asyncio.timeout(),
            # needs its own task: the timeout cancels whatever task it started in.
            return self._defer(self._send_when_done(work))
        started = eager.start(work)
        if started.task is None:
            assert started.result is not None
            return started.result
        return self._defer(self._send_when_done(started.task))

    async def _send_when_done(self, commit: Awaitable[asyncio.Future[None]]) -> None:
        future = await commit
        try:
            await future
        except StreamClosedError:
            log.debug("client went away before the response was sent")

    async def _commit_then(
        self, commit: Commit, finishing: bool, include_footers: bool = False
    ) -> asyncio.Future[None]:
        try:
            await commit.run()
            self._apply_cookie(commit)
        except StoreError as exc:
            self._store_failed(exc)
            return _done()
        except Exception:
            log.exception("unexpected error while saving the session")
            self._fail(500)
            return _done()
        if finishing:
            self._session_finishing = True
            future = super().finish()
            self._release_session()
            return future
        self._emit_session_headers()
        return super().flush(include_footers)

    def _release_session(self) -> None:
        # The session points back at its handler: break the cycle once the response
        # is done, so the handler is freed at once instead of by the cycle collector.
        session = self._session
        if session is not None:
            session._handler = None

    def _store_failed(self, error: StoreError) -> None:
        log.error("session store failed; answering 503", exc_info=error)
        if self._headers_written:
            # Too late for a status code: cut the response short instead of
            # letting it look complete, so the client can tell it failed.
            log.error("the response had started; closing the connection")
            assert self.request.connection is not None
            self.request.connection.close()  # type: ignore[attr-defined]
            return
        self._fail(503)

    def _fail(self, status_code: int) -> None:
        self._session_cookie = None
        self._session_finishing = True
        if not self._finished:
            self.send_error(status_code)

    def _apply_cookie(self, commit: Commit | None) -> None:
        if commit is None:
            return
        header = commit.cookie_header()
        if header is not None:
            self._queue_session_cookie(header)

    def _queue_session_cookie(self, header: str) -> None:
        """Send ``header`` as the session's ``Set-Cookie`` (the last one queued wins)."""
        if self._headers_written:
            log.warning(
                "the session cookie changed after the response headers were sent; "
                "the browser keeps its old cookie (commit before flushing)"
            )
            return
        self._session_cookie = header

    def _emit_session_headers(self) -> None:
        if self._session is None:
            return
        headers = self._headers  # values built here need none of add_header's checks
        headers.add("Vary", "Cookie")
        header = self._session_cookie
        if header is not None:
            headers.add("Set-Cookie", header)
            if "Cache-Control" not in headers:
                headers["Cache-Control"] = "no-store"


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
