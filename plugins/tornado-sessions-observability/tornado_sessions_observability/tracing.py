"""OpenTelemetry spans from the store-call hook: :func:`install_tracing`.

Every store call becomes one span named ``session store <operation>`` (kind
CLIENT) with the attributes ``tornado_sessions.store.operation``,
``tornado_sessions.store.scheme``, ``db.operation.name`` and, for the schemes of
this project's plugins, ``db.system.name`` (``redis``, ``mongodb``).  A failed call
sets the span's status to ERROR and adds an ``exception`` event naming the
exception's type only: a driver's message may quote a key.  No id, key or owner is
ever an attribute.

The core calls ``tornado_sessions_store_call`` after the call ended, in the
context of the request that made it, with its start time and duration; the span is
created then, with that start and end, and a parent taken explicitly from that
context (the request's span, e.g. from ``opentelemetry-instrumentation-tornado``).
Nothing here attaches or detaches an OpenTelemetry context, so nothing depends on
which asyncio task runs the hook: the mixin's commit runs in a task of its own, and
a token attached in one task cannot be detached in another.

Lifecycle events (a session created, destroyed or touched, a cookie rejected with
its reason) are added as events to the request's span when it is recording.
"""

from __future__ import annotations

import pluggy
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from tornado_sessions.hooks import hookimpl
from tornado_sessions.registry import get_plugin_manager

from . import __version__, labels

__all__ = ["SPAN_PREFIX", "SessionTracing", "install_tracing"]

#: Span names are this prefix and the store operation: ``session store load``.
SPAN_PREFIX = "session store "


class SessionTracing:
    """The plugin whose hooks make spans.  Build it with :func:`install_tracing`."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer(
            "tornado_sessions_observability", __version__, tracer_provider=tracer_provider
        )
        self._manager: pluggy.PluginManager | None = None
        self._schemes = labels.Schemes()

    @hookimpl
    def tornado_sessions_store_call(
        self,
        operation: str,
        scheme: str,
        start_ns: int,
        duration: float,
        error: BaseException | None,
    ) -> None:
        operation = labels.operation(operation)
        scheme = self._schemes(scheme)
        attributes = {
            "tornado_sessions.store.operation": operation,
            "tornado_sessions.store.scheme": scheme,
            "db.operation.name": operation,
        }
        system = labels.DB_SYSTEMS.get(scheme)
        if system is not None:
            attributes["db.system.name"] = system
        span = self.tracer.start_span(
            SPAN_PREFIX + operation,
            context=otel_context.get_current(),  # the request's, explicitly; never attached
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start_ns,
        )
        if error is not None:
            kind = type(error)
            name = f"{kind.__module__}.{kind.__qualname__}"
            span.add_event("exception", {"exception.type": name})
            span.set_status(Status(StatusCode.ERROR, kind.__name__))
        span.end(end_time=start_ns + int(duration * 1e9))

    def _event(self, name: str, **attributes: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(f"tornado_sessions.{name}", attributes)

    @hookimpl
    def tornado_sessions_session_created(self) -> None:
        self._event("session_created")

    @hookimpl
    def tornado_sessions_session_destroyed(self) -> None:
        self._event("session_destroyed")

    @hookimpl
    def tornado_sessions_session_touched(self) -> None:
        self._event("session_touched")

    @hookimpl
    def tornado_sessions_cookie_rejected(self, reason: str) -> None:
        self._event("cookie_rejected", reason=labels.reason(reason))

    def install(self, manager: pluggy.PluginManager | None = None) -> SessionTracing:
        """Register the hooks on ``manager`` (the process's, by default)."""
        self._manager = manager or get_plugin_manager()
        self._manager.register(self, name=f"tornado_sessions_observability.tracing.{id(self)}")
        return self

    def uninstall(self) -> None:
        """Stop making spans.  Idempotent."""
        if self._manager is not None:
            self._manager.unregister(self)
            self._manager = None


def install_tracing(
    tracer_provider: TracerProvider | None = None,
    *,
    manager: pluggy.PluginManager | None = None,
) -> SessionTracing:
    """Make a span per store call with ``tracer_provider`` (OpenTelemetry's global one by default).

    Call it once at start-up.  Spans are children of the request's span when the
    request has one (install a server instrumentation such as
    ``opentelemetry-instrumentation-tornado`` for that), and roots otherwise.
    """
    return SessionTracing(tracer_provider).install(manager)
