"""The server process: ``python -m benchmarks.server SPEC``, one configuration on one store.

``SPEC`` is a JSON object: ``store`` (a URL), ``config`` (``SessionOptions``
fields), ``race_io`` (seconds), and optionally ``cpu`` (a CPU to pin the process
to) and ``profile`` (a path: run under :mod:`cProfile` and dump the statistics
there).

The process builds the store inside its event loop, wraps it in a
:class:`~benchmarks.counting.CountingStore`, listens on an ephemeral port of
127.0.0.1 and only then prints one JSON line, ``{"port": ..., "pid": ...}``: the
parent reads that line, so it never has to wait for readiness by sleeping.

It runs until its standard input is closed (so it cannot outlive the suite),
then deletes the sessions it seeded from the store (it never calls ``clear()``:
the store may be shared) and closes the store.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
from typing import Any

import tornado.httpserver
import tornado.netutil

from tornado_sessions import create_store

from .app import BenchState, make_app
from .counting import CountingStore

__all__ = ["serve"]


def _stdin_closed() -> asyncio.Event:
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            closed.set()

    loop.add_reader(fd, readable)
    return closed


async def serve(spec: dict[str, Any]) -> None:
    """Serve the benchmark application as ``spec`` says, until stdin closes."""
    inner = create_store(spec["store"], timeout=2.0)
    state = BenchState(CountingStore(inner), race_io=float(spec.get("race_io", 0.001)))
    app = make_app(state, spec["config"])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    closed = _stdin_closed()
    port = sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    await closed.wait()
    server.stop()
    for key in state.seeded:
        await inner.destroy(key)
    await inner.close()


def main(argv: list[str]) -> None:
    spec: dict[str, Any] = json.loads(argv[0])
    cpu = spec.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    profile_path = spec.get("profile")
    if not profile_path:
        asyncio.run(serve(spec))
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(serve(spec))
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


if __name__ == "__main__":
    main(sys.argv[1:])
