"""The load generator process: ``python -m benchmarks.loadgen``, driven over stdin/stdout.

It runs in its own process (pinned to its own CPU when the suite pins), so the
server's CPU time is the server's alone.  Commands arrive one JSON object per
line on stdin; each gets one JSON line back on stdout:

==============  ===============================================================================
``connect``     ``port``, ``count``: open ``count`` keep-alive connections (closing any others)
``seed``        ``path``, ``count``: that many requests without a cookie; returns the cookies set
``run``         ``path``, ``cookies``, ``requests``, ``concurrency``: closed-loop load, connection
                *i* sending cookie *i*; returns every latency, the wall time, statuses and
                this process's CPU time
``race``        ``cookie``, ``clients``, ``requests``, ``same_key``: every client sends
                ``requests`` sequential ``/race`` requests on the one session, changing its own
                key ``k<i>`` (or the one key ``shared``)
``get``         ``path``, ``cookie``: one request; returns status and body
``disconnect``  close every connection
==============  ===============================================================================

The process exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from typing import Any

from .httpclient import Connection

__all__ = ["LoadGenerator"]

HOST = "127.0.0.1"


def _cookie_pair(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].strip()


class LoadGenerator:
    """Holds the connection pool between commands and executes them."""

    def __init__(self) -> None:
        self.port = 0
        self.pool: list[Connection] = []

    async def connect(self, port: int, count: int) -> dict[str, Any]:
        if port != self.port:
            await self.disconnect()
            self.port = port
        while len(self.pool) < count:
            connection = Connection(HOST, port)
            await connection.open()
            self.pool.append(connection)
        return {"connections": len(self.pool)}

    async def disconnect(self) -> dict[str, Any]:
        for connection in self.pool:
            connection.close()
        self.pool = []
        return {}

    async def seed(self, path: str, count: int) -> dict[str, Any]:
        cookies = []
        for _ in range(count):
            response = await self.pool[0].get(path)
            if response.status != 200 or not response.set_cookies:
                raise RuntimeError(f"seeding {path} answered {response.status}")
            cookies.append(_cookie_pair(response.set_cookies[-1]))
        return {"cookies": cookies}

    async def run(
        self, path: str, cookies: list[str], requests: int, concurrency: int
    ) -> dict[str, Any]:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        remaining = requests

        async def client(connection: Connection, cookie: str) -> None:
            nonlocal remaining
            clock = time.perf_counter
            while remaining > 0:
                remaining -= 1
                started = clock()
                response = await connection.get(path, cookie)
                latencies.append(clock() - started)
                statuses[response.status] += 1

        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(
            *(client(self.pool[i], cookies[i % len(cookies)]) for i in range(concurrency))
        )
        wall = time.perf_counter() - started
        return {
            "latencies": latencies,
            "wall": wall,
            "client_cpu": time.process_time() - cpu,
            "statuses": {str(code): count for code, count in statuses.items()},
        }

    async def race(
        self, cookie: str, clients: int, requests: int, same_key: bool
    ) -> dict[str, Any]:
        statuses: Counter[int] = Counter()

        async def client(index: int) -> None:
            path = "/race?key=" + ("shared" if same_key else f"k{index}")
            for _ in range(requests):
                response = await self.pool[index].get(path, cookie)
                statuses[response.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return {
            "wall": time.perf_counter() - started,
            "statuses": {str(code): count for code, count in statuses.items()},
        }

    async def get(self, path: str, cookie: str | None) -> dict[str, Any]:
        response = await self.pool[0].get(path, cookie)
        return {"status": response.status, "body": response.body.decode()}

    async def execute(self, command: dict[str, Any]) -> dict[str, Any]:
        name = command.pop("cmd")
        method = getattr(self, name, None)
        if name.startswith("_") or name == "execute" or method is None:
            raise ValueError(f"unknown command {name!r}")
        result: dict[str, Any] = await method(**command)
        return result


def main() -> None:
    cpu = os.environ.get("BENCH_LOADGEN_CPU")
    if cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    generator = LoadGenerator()
    loop = asyncio.new_event_loop()
    try:
        for line in sys.stdin:
            try:
                reply = {"ok": True, **loop.run_until_complete(generator.execute(json.loads(line)))}
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        loop.run_until_complete(generator.disconnect())
    finally:
        loop.close()


if __name__ == "__main__":
    main()
