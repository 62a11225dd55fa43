"""Scale-out run: session writes per second with 1 and 2 Tornado processes on a Redis Cluster.

``python -m benchmarks.scale_out [--seconds 5] [--clients 32]`` starts a Redis
Cluster (3 masters with a replica each, loopback) and, in turn, 1 and 2 Tornado
processes serving the plugin's test application
(:func:`tornado_sessions_redis.testing.make_app`) on it; clients, each with its own
session, write their own key round-robin over the processes for a fixed time.  It
prints the throughput of each run and the ratio.  The load generator runs on the
same machine and competes with the servers for its cores: on a 2-core machine
the ratio says how much a second process helps there, not what more machines do.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import tornado.simple_httpclient
from tornado_sessions_redis.testing import TornadoProcesses, redis_server_binary, start_cluster

__all__ = ["main", "measure"]


async def _drive(urls: list[str], clients: int, seconds: float) -> tuple[int, int]:
    """(answers 200, other answers) from ``clients`` writing for ``seconds``."""
    http = tornado.simple_httpclient.SimpleAsyncHTTPClient(
        force_instance=True, max_clients=clients * 2
    )
    ok = failed = 0
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal ok, failed
        cookie: str | None = None
        n = 0
        while time.monotonic() < deadline:
            n += 1
            url = f"{urls[(index + n) % len(urls)]}/w?k=c{index}&v={n}"
            headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
            reply = await http.fetch(url, headers=headers, raise_error=False)
            for header in reply.headers.get_list("Set-Cookie"):
                if header.startswith("sessionid="):
                    cookie = header.split(";", 1)[0].split("=", 1)[1] or None
            if reply.code == 200:
                ok += 1
            else:
                failed += 1

    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        http.close()
    return ok, failed


def measure(processes: int, url: str, workdir: Path, clients: int, seconds: float) -> float:
    """Writes per second with ``processes`` Tornado processes on store ``url``."""
    group = TornadoProcesses(url, processes, workdir / f"web{processes}")
    group.start()
    try:
        asyncio.run(_drive(group.urls, clients, 1.0))  # warm up: sessions, scripts, pools
        ok, failed = asyncio.run(_drive(group.urls, clients, seconds))
    finally:
        group.stop()
    if failed:
        raise RuntimeError(f"{failed} requests failed with {processes} process(es)")
    return ok / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_out")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
        root = Path(tmp)
        cluster = start_cluster(redis_server_binary(), root / "cluster")
        try:
            one = measure(1, cluster.url, root, args.clients, args.seconds)
            two = measure(2, cluster.url, root, args.clients, args.seconds)
        finally:
            cluster.stop()
    print(f"1 process:   {one:8.0f} session writes/s")
    print(f"2 processes: {two:8.0f} session writes/s")
    print(f"ratio:       {two / one:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
