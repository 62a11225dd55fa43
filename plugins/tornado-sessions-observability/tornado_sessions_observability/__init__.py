"""Metrics and traces for tornado-sessions, from the core's observer hooks.

- :func:`install_metrics` (needs ``prometheus-client``): counters of sessions
  created, loaded, saved, touched and destroyed, of rejected cookies by reason and
  of store errors by operation, and a histogram of store call latency by
  operation; :class:`MetricsHandler` serves them to Prometheus.
- :func:`install_tracing` (needs ``opentelemetry-api``): one span per store call,
  a child of the request's span when there is one.

Nothing is installed by merely installing the distribution (it declares no entry
point): an application calls these at start-up, and each returns an object whose
``uninstall()`` undoes it.  Each backend's library is imported only by the
function that needs it (``pip install tornado-sessions-observability[prometheus]``
or ``[opentelemetry]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metrics import MetricsHandler, SessionMetrics, install_metrics
    from .tracing import SessionTracing, install_tracing

__all__ = [
    "MetricsHandler",
    "SessionMetrics",
    "SessionTracing",
    "install_metrics",
    "install_tracing",
]

__version__ = "0.1.0"

_HOMES = {
    "MetricsHandler": "metrics",
    "SessionMetrics": "metrics",
    "install_metrics": "metrics",
    "SessionTracing": "tracing",
    "install_tracing": "tracing",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
