"""Prometheus metrics from the session lifecycle hooks: :func:`install_metrics`.

Metric names (``namespace`` defaults to ``tornado_sessions``) and labels:

- ``tornado_sessions_sessions_created_total``: new sessions written for the first time;
- ``tornado_sessions_sessions_loaded_total``: stored sessions read for a request;
- ``tornado_sessions_sessions_saved_total``: sessions written, whole or as a delta;
- ``tornado_sessions_sessions_touched_total``: unmodified sessions whose expiry moved;
- ``tornado_sessions_sessions_destroyed_total``: records deleted (destroy, regenerate,
  unset);
- ``tornado_sessions_cookies_rejected_total{reason}``: cookies not used
  (``bad_signature``, ``duplicate``, ``corrupt_record``);
- ``tornado_sessions_store_errors_total{operation, scheme, kind}``: store calls that
  failed (``kind="error"``) or timed out (``kind="timeout"``);
- ``tornado_sessions_store_call_duration_seconds{operation, scheme}``: a histogram of
  every store call, failed ones included.

Label values are bounded (:mod:`tornado_sessions_observability.labels`): store
operations, at most 16 schemes, the documented reasons.  No id, key or owner is
ever a label.  Each hook does a dictionary lookup and an increment, under
prometheus_client's own lock; nothing is done per scrape but reading the values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pluggy
import tornado.web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from tornado_sessions.errors import ConfigurationError
from tornado_sessions.hooks import hookimpl
from tornado_sessions.registry import get_plugin_manager

from . import labels

__all__ = ["DEFAULT_BUCKETS", "MetricsHandler", "SessionMetrics", "install_metrics"]

#: Store call latency buckets, seconds: from an in-process store's microseconds to a
#: store call near the default 2 s ``store_timeout``.
DEFAULT_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
)  # fmt: skip


class SessionMetrics:
    """The metrics, and the plugin whose hooks update them; see :func:`install_metrics`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        namespace: str = "tornado_sessions",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = registry
        self._manager: pluggy.PluginManager | None = None
        made: list[Any] = []

        def counter(name: str, documentation: str, names: Sequence[str] = ()) -> Counter:
            metric = Counter(name, documentation, names, namespace=namespace, registry=None)
            made.append(metric)
            return metric

        self.created = counter("sessions_created", "New sessions written for the first time.")
        self.loaded = counter("sessions_loaded", "Stored sessions read for a request.")
        self.saved = counter("sessions_saved", "Sessions written, whole or as a delta.")
        self.touched = counter("sessions_touched", "Unmodified sessions whose expiry moved.")
        self.destroyed = counter(
            "sessions_destroyed", "Session records deleted (destroy, regenerate, unset)."
        )
        self.rejected = counter(
            "cookies_rejected", "Session cookies not used, by reason.", ["reason"]
        )
        self.store_errors = counter(
            "store_errors",
            "Store calls that failed (kind=error) or timed out (kind=timeout).",
            ["operation", "scheme", "kind"],
        )
        self.store_latency = Histogram(
            "store_call_duration_seconds",
            "Duration of store calls, failed ones included.",
            ["operation", "scheme"],
            namespace=namespace,
            buckets=tuple(buckets),
            registry=None,
        )
        made.append(self.store_latency)
        self._collectors = made
        for collector in made:
            try:
                registry.register(collector)
            except ValueError as exc:
                for done in made[: made.index(collector)]:
                    registry.unregister(done)
                raise ConfigurationError(
                    f"tornado-sessions metrics are already registered in this registry ({exc}); "
                    "call install_metrics() once, or uninstall() the previous one"
                ) from None
        self._schemes = labels.Schemes()
        # Children by label values, so a hook does one dict lookup, not labels().
        self._latency: dict[tuple[str, str], Any] = {}
        self._errors: dict[tuple[str, str, str], Any] = {}
        self._reasons: dict[str, Any] = {}
        self._count_created = self.created.inc
        self._count_loaded = self.loaded.inc
        self._count_saved = self.saved.inc
        self._count_touched = self.touched.inc
        self._count_destroyed = self.destroyed.inc

    # -- the hooks (plugin side) ------------------------------------------------

    @hookimpl
    def tornado_sessions_session_created(self) -> None:
        self._count_created()

    @hookimpl
    def tornado_sessions_session_loaded(self) -> None:
        self._count_loaded()

    @hookimpl
    def tornado_sessions_session_saved(self) -> None:
        self._count_saved()

    @hookimpl
    def tornado_sessions_session_touched(self) -> None:
        self._count_touched()

    @hookimpl
    def tornado_sessions_session_destroyed(self) -> None:
        self._count_destroyed()

    @hookimpl
    def tornado_sessions_cookie_rejected(self, reason: str) -> None:
        child = self._reasons.get(reason)
        if child is None:
            child = self._reasons[reason] = self.rejected.labels(labels.reason(reason))
        child.inc()

    @hookimpl
    def tornado_sessions_store_call(
        self, operation: str, scheme: str, duration: float, error: BaseException | None
    ) -> None:
        key = (operation, scheme)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = self.store_latency.labels(
                labels.operation(operation), self._schemes(scheme)
            )
        child.observe(duration)
        if error is not None:
            kind = "timeout" if _is_timeout(error) else "error"
            error_key = (operation, scheme, kind)
            counter = self._errors.get(error_key)
            if counter is None:
                counter = self._errors[error_key] = self.store_errors.labels(
                    labels.operation(operation), self._schemes(scheme), kind
                )
            counter.inc()

    # -- installing ---------------------------------------------------------------

    def install(self, manager: pluggy.PluginManager | None = None) -> SessionMetrics:
        """Register the hooks on ``manager`` (the process's, by default)."""
        self._manager = manager or get_plugin_manager()
        self._manager.register(self, name=f"tornado_sessions_observability.metrics.{id(self)}")
        return self

    def uninstall(self) -> None:
        """Stop counting and remove the metrics from their registry.  Idempotent."""
        if self._manager is not None:
            self._manager.unregister(self)
            self._manager = None
        for collector in self._collectors:
            with contextlib.suppress(KeyError):  # already removed
                self.registry.unregister(collector)
        self._collectors = []


def _is_timeout(error: BaseException) -> bool:
    """A timeout: Python's, or a driver's (redis-py's TimeoutError, PyMongo's NetworkTimeout)."""
    return isinstance(error, TimeoutError) or any(
        "Timeout" in kind.__name__ for kind in type(error).__mro__
    )


def install_metrics(
    registry: CollectorRegistry = REGISTRY,
    *,
    namespace: str = "tornado_sessions",
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    manager: pluggy.PluginManager | None = None,
) -> SessionMetrics:
    """Count sessions and time store calls into ``registry`` (prometheus_client's default).

    Call it once at start-up, before the server takes traffic; serve the registry
    with :class:`MetricsHandler` or prometheus_client's own ``start_http_server``.

    :raises ConfigurationError: the metrics are already in ``registry``.
    """
    return SessionMetrics(registry, namespace=namespace, buckets=buckets).install(manager)


class MetricsHandler(tornado.web.RequestHandler):
    """Serves a registry in Prometheus' text format: ``(r"/metrics", MetricsHandler)``.

    Pass ``{"registry": my_registry}`` as the route's third element for another
    registry than prometheus_client's default.  Put it on a port or path your
    users cannot reach.
    """

    def initialize(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.write(generate_latest(self.registry))
