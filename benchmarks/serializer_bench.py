"""Microbenchmark: the msgpack serializer against JSON on the benchmark's session payloads.

Both are the project's own serializers (:class:`~tornado_sessions.MsgpackSerializer`
and :class:`~tornado_sessions.JSONSerializer`), used as the core uses them: each
session key serialized on its own.  For each payload size it reports the bytes
stored and the time to serialize and to deserialize the whole session (what a
whole-record save and every load cost).  Times are the best of five repeats of a
loop of at least ``seconds``, in the main process (no server is running then).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tornado_sessions import JSONSerializer, MsgpackSerializer, Serializer

from .payloads import make_payload, payload_size

__all__ = ["bench_serializers"]

REPEATS = 5


def _best_time(work: Callable[[], object], seconds: float) -> float:
    number = 1
    while True:
        started = time.perf_counter()
        for _ in range(number):
            work()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / REPEATS or number >= 1 << 20:
            break
        number *= 2
    best = elapsed / number
    for _ in range(REPEATS - 1):
        started = time.perf_counter()
        for _ in range(number):
            work()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def _measure(serializer: Serializer, payload: dict[str, Any], seconds: float) -> dict[str, Any]:
    dumps, loads = serializer.dumps, serializer.loads
    encoded = {key: dumps(value) for key, value in payload.items()}

    def dump_all() -> object:
        return {key: dumps(value) for key, value in payload.items()}

    def load_all() -> object:
        return {key: loads(data) for key, data in encoded.items()}

    return {
        "bytes": payload_size(payload, serializer),
        "dumps_us": 1e6 * _best_time(dump_all, seconds),
        "loads_us": 1e6 * _best_time(load_all, seconds),
    }


def bench_serializers(sizes: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    """One row per size: bytes and microseconds per session for msgpack and JSON."""
    rows = []
    for size in sizes:
        payload = make_payload(size)
        rows.append(
            {
                "size": size,
                "msgpack": _measure(MsgpackSerializer(), payload, seconds),
                "json": _measure(JSONSerializer(), payload, seconds),
            }
        )
    return rows
