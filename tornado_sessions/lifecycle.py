"""What a :class:`~tornado_sessions.session.Session` asks of the core: :class:`Lifecycle`.

``regenerate()``, ``destroy()``, ``reload()`` and ``save()`` change the session at
once and reach the store through this object, the
:class:`~tornado_sessions.session.SessionIO` of one request: new ids from the
runtime's signer, records read and checked by :mod:`tornado_sessions.record_checks`,
deletions through :meth:`SessionRuntime.call
<tornado_sessions.runtime.SessionRuntime.call>`, and ``save()`` through the same
commit as the end of the response.
"""

from __future__ import annotations

import logging
import time

from .codec import ValueCodec
from .commit import commit
from .ids import log_id, owner_key
from .record_checks import read_record
from .rotation import end_forwarded
from .runtime import SessionRuntime
from .session import LoadedRecord, Session

__all__ = ["Lifecycle"]

log = logging.getLogger("tornado_sessions")


class Lifecycle:
    """The core's side of one request's session operations."""

    __slots__ = ("_runtime",)

    def __init__(self, runtime: SessionRuntime) -> None:
        self._runtime = runtime

    @property
    def codec(self) -> ValueCodec:
        return self._runtime.codec

    def new_identity(self) -> tuple[str, str]:
        return self._runtime.tokens.new()

    def owner_key(self, owner: str) -> str:
        return owner_key(owner, self._runtime.options.hash_ids)

    async def fetch(self, session: Session) -> LoadedRecord | None:
        return await read_record(
            self._runtime, session.key, session.handler, time.time(), session_id=session.id
        )

    async def delete(self, session: Session, keys: tuple[str, ...]) -> None:
        runtime, handler = self._runtime, session.handler
        for key in keys:
            await runtime.call("destroy", runtime.store.destroy(key), handler)
        # A session renewed by rotate_after while this request ran lives on under its
        # new id: end that one too.
        await end_forwarded(runtime, handler, session.id, session.key)
        runtime.observers.notify(
            "tornado_sessions_session_destroyed", session=session, handler=handler
        )

    async def commit(self, session: Session, *, force: bool) -> None:
        await commit(self._runtime, session, force=force)

    def corrupt_value(self, session: Session, name: str, error: Exception) -> None:
        log.warning(
            "corrupt value of key %r in session %s dropped: %s", name, log_id(session.id), error
        )
