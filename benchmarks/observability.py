"""``python -m benchmarks.observability``: what the metrics and traces cost a read request.

The issue's budget (issue 19): on the memory store, a read request costs at most
1/0.90 of bare Tornado's CPU (bare CPU per request / read CPU per request >= 0.90).
This measures that ratio with the observability plugin off, with
``install_metrics()`` (nothing scraping) and with metrics plus ``install_tracing()``
(an SDK tracer provider that exports nowhere: spans are made and dropped), and the
extra CPU per read request each one adds.

Method, as the main suite's (:mod:`benchmarks`): one server process (this module
with ``--serve``), pinned to its own CPU when there are two; the load comes from
this process over kept-alive HTTP/1.1 connections (:mod:`benchmarks.httpclient`).
CPU per request is the server's ``time.process_time()`` over a phase divided by its
requests.  The modes are switched inside the same server process (a control route
installs and uninstalls the plugin) and run in interleaved rounds, the order
rotated each round, so a machine that speeds up or slows down during the run moves
every mode alike; figures are medians over rounds, with the spread (min-max).

``--quick`` takes about 20 s on 2 cores, the default run about a minute;
``--smoke`` only checks the machinery (its numbers are noise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from opentelemetry.sdk.trace import TracerProvider
from tornado_sessions_observability import (
    SessionMetrics,
    SessionTracing,
    install_metrics,
    install_tracing,
)

from tornado_sessions import SessionMixin, SessionOptions, open_sessions

from .app import Bare, Read
from .httpclient import Connection

__all__ = ["main"]

SECRET = "benchmark-secret-not-for-production-0123456789"
MODES = ("off", "metrics", "metrics+tracing")
BUDGET = 0.90


# -- the server process ----------------------------------------------------------------


class Seed(SessionMixin, tornado.web.RequestHandler):
    """A session as the suite's read route expects it."""

    async def get(self) -> None:
        session = await self.get_session()
        session.update({"user": 42, "roles": ["member"]})
        self.write("ok")


class Control(tornado.web.RequestHandler):
    """``/_obs/mode?m=MODE`` installs that mode; ``/_obs/cpu`` is the process's CPU time."""

    metrics: SessionMetrics | None = None
    tracing: SessionTracing | None = None

    def get(self, what: str) -> None:
        if what == "mode":
            self._switch(self.get_argument("m"))
        self.write({"cpu": time.process_time()})

    def _switch(self, mode: str) -> None:
        cls = type(self)
        if cls.metrics is not None:
            cls.metrics.uninstall()
            cls.metrics = None
        if cls.tracing is not None:
            cls.tracing.uninstall()
            cls.tracing = None
        if mode in ("metrics", "metrics+tracing"):
            from prometheus_client import CollectorRegistry

            cls.metrics = install_metrics(CollectorRegistry())
        if mode == "metrics+tracing":
            cls.tracing = install_tracing(TracerProvider())


async def serve(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    app = tornado.web.Application(
        [
            (r"/bare", Bare),
            (r"/read", Read),
            (r"/_obs/seed", Seed),
            (r"/_obs/(mode|cpu)", Control),
        ],
        sessions=SessionOptions(secret=SECRET, store="memory://", max_age=3600),
    )
    await open_sessions(app)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(json.dumps({"port": sockets[0].getsockname()[1]}), flush=True)
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            closed.set()

    loop.add_reader(fd, readable)
    await closed.wait()
    server.stop()


# -- the measuring process ----------------------------------------------------------------


@dataclass
class Settings:
    requests: int
    rounds: int
    connections: int


async def _phase(port: int, path: str, cookie: str, settings: Settings) -> float:
    """Server CPU seconds per request of ``settings.requests`` GETs of ``path``."""
    control = Connection("127.0.0.1", port)
    connections = [Connection("127.0.0.1", port) for _ in range(settings.connections)]
    for connection in connections:
        await connection.open()
    share = settings.requests // settings.connections

    async def drive(connection: Connection) -> None:
        for _ in range(share):
            response = await connection.get(path, cookie)
            if response.status != 200 or response.body != b"ok":
                raise RuntimeError(f"{path} answered {response.status} {response.body!r}")

    before = json.loads((await control.get("/_obs/cpu")).body)["cpu"]
    await asyncio.gather(*(drive(connection) for connection in connections))
    after = json.loads((await control.get("/_obs/cpu")).body)["cpu"]
    for connection in (control, *connections):
        connection.close()
    return float(after - before) / (share * settings.connections)


async def measure(port: int, settings: Settings, progress: bool) -> dict[str, Any]:
    control = Connection("127.0.0.1", port)
    seeded = await control.get("/_obs/seed")
    cookie = seeded.set_cookies[0].split(";", 1)[0]
    warm = Settings(max(settings.requests // 4, 20), 1, settings.connections)
    per_round: list[dict[str, dict[str, float]]] = []
    for index in range(settings.rounds):
        order = MODES[index % len(MODES) :] + MODES[: index % len(MODES)]
        figures: dict[str, dict[str, float]] = {}
        for mode in order:
            await control.get(f"/_obs/mode?m={mode}")
            if index == 0:
                await _phase(port, "/read", cookie, warm)
            bare = await _phase(port, "/bare", cookie, settings)
            read = await _phase(port, "/read", cookie, settings)
            figures[mode] = {"bare_us": bare * 1e6, "read_us": read * 1e6, "ratio": bare / read}
        per_round.append(figures)
        if progress:
            print(f"round {index + 1}/{settings.rounds} done", file=sys.stderr, flush=True)
    await control.get("/_obs/mode?m=off")
    control.close()
    return summarize(per_round)


def hook_costs(calls: int) -> dict[str, float]:
    """Nanoseconds per read request's notifications, in this process, per mode.

    A read on the memory store notifies ``store_call`` (the load) and
    ``session_loaded`` once each; this times exactly that through the core's
    :class:`~tornado_sessions.observers.Observers`, on a plugin manager of its own.
    """
    import pluggy
    from prometheus_client import CollectorRegistry

    from tornado_sessions import hooks
    from tornado_sessions.observers import Observers

    costs: dict[str, float] = {}
    for mode in MODES:
        manager = pluggy.PluginManager(hooks.PROJECT)
        manager.add_hookspecs(hooks)
        installed: list[SessionMetrics | SessionTracing] = []
        if mode != "off":
            installed.append(install_metrics(CollectorRegistry(), manager=manager))
        if mode == "metrics+tracing":
            installed.append(install_tracing(TracerProvider(), manager=manager))
        observers = Observers(manager)
        notify = observers.notify
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter_ns()
            for _ in range(calls):
                notify(
                    "tornado_sessions_store_call",
                    operation="load",
                    scheme="memory",
                    start_ns=0,
                    duration=1e-6,
                    error=None,
                )
                notify("tornado_sessions_session_loaded", session=None, handler=None)
            best = min(best, (time.perf_counter_ns() - started) / calls)
        for plugin in installed:
            plugin.uninstall()
        costs[mode] = best
    return costs


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(per_round: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode in MODES:
        rows = [figures[mode] for figures in per_round]
        extra = [figures[mode]["read_us"] - figures["off"]["read_us"] for figures in per_round]
        modes[mode] = {
            "bare_us": _spread([row["bare_us"] for row in rows]),
            "read_us": _spread([row["read_us"] for row in rows]),
            "ratio": _spread([row["ratio"] for row in rows]),
            "extra_read_us": _spread(extra),
        }
    return {"budget": BUDGET, "modes": modes, "rounds": per_round}


def render_hooks(costs: dict[str, float]) -> str:
    lines = [
        "The notifications of one read request (store_call and session_loaded), timed "
        "in-process (best of 5):",
        "",
        "| plugin | ns per read | extra ns |",
        "|---|---|---|",
    ]
    for mode, cost in costs.items():
        extra = "-" if mode == "off" else f"{cost - costs['off']:.0f}"
        lines.append(f"| {mode} | {cost:.0f} | {extra} |")
    return "\n".join(lines)


def render(result: dict[str, Any], settings: Settings) -> str:
    lines = [
        f"Read request on the memory store, {settings.requests} requests per phase, "
        f"{settings.connections} connections, {settings.rounds} rounds (median, min-max):",
        "",
        "| plugin | bare µs/req | read µs/req | extra µs per read | bare/read | budget "
        f"(>= {BUDGET:.2f}) |",
        "|---|---|---|---|---|---|",
    ]
    for mode, figures in result["modes"].items():

        def cell(name: str, digits: int = 1, figures: dict[str, Any] = figures) -> str:
            spread = figures[name]
            return (
                f"{spread['median']:.{digits}f} ({spread['min']:.{digits}f}-"
                f"{spread['max']:.{digits}f})"
            )

        verdict = "within" if figures["ratio"]["median"] >= BUDGET else "over"
        lines.append(
            f"| {mode} | {cell('bare_us')} | {cell('read_us')} | "
            f"{cell('extra_read_us') if mode != 'off' else '-'} | {cell('ratio', 2)} | "
            f"{verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.observability")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--smoke", action="store_true", help="check the machinery only")
    parser.add_argument("--json", metavar="PATH", help="also write every figure there")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.cpu))
        return 0
    settings = Settings(4000, 7, 8)
    if args.quick:
        settings = Settings(2000, 3, 8)
    if args.smoke:
        settings = Settings(40, 1, 2)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = len(cpus) >= 2
    command = [sys.executable, "-m", "benchmarks.observability", "--serve"]
    if pin:
        command += ["--cpu", str(cpus[0])]
        os.sched_setaffinity(0, {cpus[1]})
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line:
                raise SystemExit("the benchmark server did not start")
            port = int(json.loads(line)["port"])
            result = asyncio.run(measure(port, settings, not args.no_progress))
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)
    costs = hook_costs(200 if args.smoke else 20_000)
    print(render(result, settings))
    print()
    print(render_hooks(costs))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            body = {"settings": vars(settings), "hook_ns": costs, **result}
            json.dump(body, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
