"""What the suite measures: session configurations, workloads, phases and run sizes.

A *configuration* is a set of :class:`~tornado_sessions.SessionOptions` fields;
every configuration runs in its own server process.  Within that process the
suite measures *phases*, each a workload on a route of the same application:

==============  ==========================================================================
``bare``        a plain ``RequestHandler``, no sessions at all: the baseline
``untouched``   a ``SessionMixin`` handler that never asks for its session
``read``        loads the session and reads two keys (``user`` and ``roles``)
``write``       loads the session and changes one key (``counter``)
``floor-read``  the client floor: a plain handler making the raw store call a read needs
``floor-write`` the client floor of a write: the raw read, then the write of one field
==============  ==========================================================================

``read`` and ``write`` run once per session size.  Every request carries a
session cookie, so bare and session requests parse the same headers.  The race
(many clients on one session) is described in :mod:`benchmarks.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .payloads import SIZES

__all__ = [
    "CONFIGS",
    "FLOOR_WORKLOADS",
    "MODES",
    "TARGETS",
    "Config",
    "Mode",
    "Phase",
    "Target",
    "phases",
    "store_kind",
]


@dataclass(frozen=True)
class Config:
    """One session configuration: a short key, a label for tables, and its options."""

    key: str
    label: str
    options: dict[str, Any]
    summary: str


CONFIGS: tuple[Config, ...] = (
    Config(
        "resave",
        "resave=True",
        {"resave": True},
        "writes the whole session back on every request",
    ),
    Config(
        "touch-always",
        "touch_after=0",
        {"resave": False, "touch_after": 0},
        "resave off; an unmodified session's expiry is extended on every request",
    ),
    Config(
        "touch-default",
        "touch_after=60 (default)",
        {"resave": False},
        "resave off; an unmodified session's expiry is extended at most once a minute",
    ),
    Config(
        "rolling",
        "rolling=True",
        {"resave": False, "rolling": True},
        "as the default, and the cookie is re-sent on every response",
    ),
    Config(
        "encrypted",
        "encryption_keys (AES-SIV)",
        # A fixed benchmark key: 32 bytes, base64url.  Never use it elsewhere.
        {"resave": False, "encryption_keys": ["YmVuY2htYXJrLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE"]},
        "as the default, with every value encrypted at rest: compare with touch-default",
    ),
)

#: The configuration whose ratios are checked against the overhead targets.
TARGET_CONFIG = "touch-default"


class Target(NamedTuple):
    """One overhead goal: ``reference`` CPU / this phase's CPU must be at least ``goal``.

    ``reference`` is ``"bare"`` (bare Tornado's request) or ``"floor"`` (the client
    floor of the same workload: bare Tornado plus the raw store calls).
    """

    workload: str
    size: int | None
    goal: float
    reference: str


#: The project's overhead goals per store kind (issue #19), for the default
#: configuration: the fraction of the reference's CPU per request that is kept.
TARGETS: dict[str, tuple[Target, ...]] = {
    "memory": (
        Target("untouched", None, 0.97, "bare"),
        Target("read", SIZES[0], 0.90, "bare"),
        Target("write", SIZES[0], 0.85, "bare"),
    ),
    "redis": (
        Target("read", SIZES[0], 0.70, "bare"),
        Target("write", SIZES[0], 0.55, "bare"),
    ),
    # "within 10% of the PyMongo floor's CPU": ours <= 1.10 x floor
    "mongodb": (
        Target("read", SIZES[0], 1 / 1.10, "floor"),
        Target("write", SIZES[0], 1 / 1.10, "floor"),
    ),
}


def store_kind(url: str) -> str:
    """``memory``, ``redis`` or ``mongodb`` for a store URL (``rediss+cluster`` is redis)."""
    scheme = url.split("://", 1)[0].lower()
    for kind in TARGETS:
        if scheme.startswith(kind):
            return kind
    return scheme


@dataclass(frozen=True)
class Phase:
    """A workload on one route, with the session size it uses (``None``: not applicable)."""

    workload: str
    size: int | None = None

    @property
    def path(self) -> str:
        return f"/{self.workload}"

    @property
    def key(self) -> str:
        return self.workload if self.size is None else f"{self.workload}@{self.size}"


#: The client-floor workloads, measured where the server knows its store's driver.
FLOOR_WORKLOADS: tuple[str, ...] = ("floor-read", "floor-write")


def phases(sizes: tuple[int, ...], floor: bool = True) -> list[Phase]:
    """Every phase measured in one server, baseline first (floors only if ``floor``)."""
    result = [Phase("bare")]
    if floor:
        result += [Phase(workload) for workload in FLOOR_WORKLOADS]
    result += [Phase("untouched")]
    result += [Phase("read", size) for size in sizes]
    result += [Phase("write", size) for size in sizes]
    return result


@dataclass(frozen=True)
class Mode:
    """How long to measure: requests per phase, interleaved rounds, concurrency, race size."""

    name: str
    requests: int
    rounds: int
    concurrency: int
    warmup: int
    race_clients: int
    race_requests: int
    serializer_seconds: float
    sizes: tuple[int, ...] = field(default=SIZES)


MODES: dict[str, Mode] = {
    "smoke": Mode(
        "smoke",
        requests=40,
        rounds=1,
        concurrency=4,
        warmup=20,
        race_clients=4,
        race_requests=5,
        serializer_seconds=0.01,
    ),
    "quick": Mode(
        "quick",
        requests=300,
        rounds=3,
        concurrency=8,
        warmup=100,
        race_clients=16,
        race_requests=10,
        serializer_seconds=0.05,
    ),
    "full": Mode(
        "full",
        requests=2000,
        rounds=5,
        concurrency=16,
        warmup=1000,
        race_clients=32,
        race_requests=25,
        serializer_seconds=0.3,
    ),
}
