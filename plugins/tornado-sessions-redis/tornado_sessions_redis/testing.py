"""Test harness: real ``redis-server`` processes and Tornado processes, for tests and benchmarks.

The plugin's own tests (``tests/conftest.py``), other suites (the core's
``tests/security``) and the benchmarks use it to run real servers:

- :func:`redis_server_binary` finds the binary (``redis-server`` on ``PATH``, or
  ``$REDIS_SERVER``);
- :class:`RedisServer` starts it on a free loopback port in a directory of its own,
  persistence off (``--save '' --appendonly no``) unless asked for (append-only file,
  fsync on every write), polls it for readiness (PING; never a fixed sleep), and
  stops, kills, pauses, resumes or restarts it on the same port;
- :class:`ClusterServers` forms such servers into a Redis Cluster: masters that
  split the slots evenly, each with its replicas, and waits on the cluster's own
  state (``CLUSTER INFO``, ``CLUSTER NODES``, ``ROLE``) for it to be whole, or for a
  killed master's replica to have taken over;
- :class:`TornadoProcesses` starts N Tornado processes (this module run as
  ``python -m tornado_sessions_redis.testing serve``) on their own ports, all with
  the same store URL and options, serving the small application of :func:`make_app`.

If the binary is missing, :func:`unavailable` fails the test: a store test never
passes, nor is skipped, without its server.

Not imported by the store itself; it needs ``pytest`` (for failing a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis

from tornado_sessions.testing.servers import POLL_INTERVAL, free_port, poll

READY_TIMEOUT = 15.0
CLUSTER_SLOTS = 16384


def unavailable(reason: str) -> NoReturn:
    """No server for the test: the test fails, with the reason (a store test never skips)."""
    pytest.fail(reason, pytrace=False)


def redis_server_binary() -> str:
    """Path of ``redis-server`` (or ``$REDIS_SERVER``), or :func:`unavailable` if there is none."""
    wanted = os.environ.get("REDIS_SERVER", "redis-server")
    found = shutil.which(wanted)
    if found is None:
        unavailable(
            f"{wanted!r} not found on PATH: install Redis >= 7 "
            "(Debian/Ubuntu: apt-get install redis-server) or set $REDIS_SERVER"
        )
    return found


class RedisServer:
    """One ``redis-server`` process on a loopback port, restartable on the same port."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        cluster: bool = False,
        node_timeout_ms: int = 5000,
        persistent: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        #: More ``redis-server`` options (e.g. a TLS port), appended to the command line.
        self.extra_args = list(extra_args)
        self.workdir = workdir
        self.cluster = cluster
        self.node_timeout_ms = node_timeout_ms
        #: Append-only file, fsync at every write: a restart keeps every acknowledged write.
        self.persistent = persistent
        self.host = "127.0.0.1"
        self.port = 0
        self.bus_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def unix_socket(self) -> Path:
        return self.workdir / "redis.sock"

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def admin(self) -> redis.Redis:
        return redis.Redis(self.host, self.port, socket_timeout=2, socket_connect_timeout=2)

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--logfile", str(self.log),
            "--unixsocket", str(self.unix_socket),
            "--unixsocketperm", "700",
        ]  # fmt: skip
        if self.cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{self.port}.conf",
                "--cluster-port", str(self.bus_port),
                "--cluster-node-timeout", str(self.node_timeout_ms),
            ]  # fmt: skip
        return args + self.extra_args

    def start(self) -> None:
        """Start on a fresh free port; on a port race, pick another one."""
        for _ in range(5):
            self.port = free_port()
            self.bus_port = free_port() if self.cluster else 0
            if self._spawn():
                return
        pytest.fail(f"redis-server would not start; log:\n{self._log_tail()}", pytrace=False)

    def restart(self) -> None:
        """Start again on the same port (after :meth:`stop`)."""
        if not self._spawn():
            pytest.fail(f"redis-server did not restart; log:\n{self._log_tail()}", pytrace=False)

    def _spawn(self) -> bool:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:  # exited: port taken, bad option...
                self.process = None
                return False
            if self.ping():
                return True
            time.sleep(POLL_INTERVAL)
        self.stop()
        pytest.fail(f"redis-server not ready in {READY_TIMEOUT}s; log:\n{self._log_tail()}")

    def ping(self) -> bool:
        """True if the server answers PING right now."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """Freeze the process: connections are accepted by the kernel but never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    @property
    def running(self) -> bool:
        return self.process is not None

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash (nothing flushed, no goodbye)."""
        process, self.process = self.process, None
        assert process is not None, "not running"
        process.kill()
        process.wait()
        self.paused = False
        poll(lambda: not self.ping(), 5, f"port {self.port} to close")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if self.paused:
            process.send_signal(signal.SIGCONT)
            self.paused = False
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        poll(lambda: not self.ping(), 5, f"port {self.port} to close")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def _cluster_info(client: Any) -> dict[str, str]:
    raw = client.execute_command("CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@dataclass
class ClusterNodeState:
    """One line of ``CLUSTER NODES``."""

    node_id: str
    address: str  # host:port
    flags: frozenset[str]
    master_id: str | None
    slots: int  # how many slots it serves


def _cluster_nodes(client: Any) -> list[ClusterNodeState]:
    raw = client.execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        slots = 0
        for item in parts[8:]:
            if item.startswith("["):  # a slot being migrated
                continue
            first, _, last = item.partition("-")
            slots += int(last or first) - int(first) + 1
        found.append(
            ClusterNodeState(
                parts[0],
                parts[1].split("@", 1)[0],
                frozenset(parts[2].split(",")),
                None if parts[3] == "-" else parts[3],
                slots,
            )
        )
    return found


@dataclass
class ClusterServers:
    """A Redis Cluster on loopback: ``masters`` nodes splitting the slots, each with replicas.

    ``nodes`` lists masters first, then the replicas (``replicas`` per master, the
    first replica of each master before the second).  Roles change on a failover:
    :meth:`roles` tells the current ones.
    """

    nodes: list[RedisServer]
    replicas: int = 0

    @property
    def masters(self) -> int:
        return len(self.nodes) // (1 + self.replicas)

    @property
    def url(self) -> str:
        live = [node for node in self.nodes if node.running]
        addresses = ",".join(f"{node.host}:{node.port}" for node in live[:1])
        return f"redis+cluster://{addresses}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    @property
    def primaries(self) -> list[RedisServer]:
        """The live masters, now (roles change on a failover)."""
        return [self.node_at(address) for address in self.roles()]

    def node_at(self, address: str) -> RedisServer:
        for node in self.nodes:
            if f"{node.host}:{node.port}" == address:
                return node
        raise KeyError(address)

    def form(self) -> None:
        masters = self.nodes[: self.masters]
        per_node = CLUSTER_SLOTS // len(masters)
        for i, node in enumerate(masters):
            first = i * per_node
            last = CLUSTER_SLOTS - 1 if i == len(masters) - 1 else first + per_node - 1
            with node.admin() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with self.nodes[0].admin() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", node.host, node.port, node.bus_port)
        poll(self._all_known, READY_TIMEOUT, "every cluster node to know every other")
        for i, replica in enumerate(self.nodes[self.masters :]):
            master = masters[i % len(masters)]
            with master.admin() as client:
                master_id = client.execute_command("CLUSTER", "MYID")
            with replica.admin() as client:
                client.execute_command("CLUSTER", "REPLICATE", master_id)
        poll(self.is_ready, READY_TIMEOUT, "the cluster to be whole (state ok, replicas in sync)")

    def _all_known(self) -> bool:
        for node in self.nodes:
            with node.admin() as client:
                if _cluster_info(client).get("cluster_known_nodes") != str(len(self.nodes)):
                    return False
        return True

    def roles(self) -> dict[str, list[RedisServer]]:
        """Each live master serving slots (by ``host:port``) and its connected replicas."""
        seen: dict[str, list[RedisServer]] = {}
        for node in self.nodes:
            if not node.running:
                continue
            with node.admin() as client:
                role = client.execute_command("ROLE")
            if role[0] in (b"master", "master"):
                replicas = []
                for host, port, _offset in role[2]:
                    host = host.decode() if isinstance(host, bytes) else host
                    replicas.append(self.node_at(f"{host}:{int(port)}"))
                seen[f"{node.host}:{node.port}"] = replicas
        return seen

    def is_ready(self) -> bool:
        """Every live node says the cluster is ok, and each master has its replicas in sync."""
        try:
            for node in self.nodes:
                if not node.running:
                    continue
                with node.admin() as client:
                    info = _cluster_info(client)
                    states = _cluster_nodes(client)
                if (
                    info.get("cluster_state") != "ok"
                    or info.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
                    or any("fail" in state.flags or "fail?" in state.flags for state in states)
                ):
                    return False
            serving = {
                address: replicas
                for address, replicas in self.roles().items()
                if any(s.address == address and s.slots for s in states)
            }
            return len(serving) == self.masters and all(
                len(replicas) == self.replicas for replicas in serving.values()
            )
        except redis.RedisError:
            return False

    def master_for(self, key: bytes) -> RedisServer:
        """The node serving ``key``'s slot now."""
        live = next(node for node in self.nodes if node.running)
        with live.admin() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for first, last, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(first) <= slot <= int(last):
                    host = master[0].decode() if isinstance(master[0], bytes) else master[0]
                    return self.node_at(f"{host}:{int(master[1])}")
        raise LookupError(f"no node serves slot {slot}")

    def has_failed_over(self, killed: RedisServer) -> bool:
        """``killed`` is marked failed by every live node and its slots are served again."""
        address = f"{killed.host}:{killed.port}"
        try:
            for node in self.nodes:
                if not node.running:
                    continue
                with node.admin() as client:
                    info = _cluster_info(client)
                    states = _cluster_nodes(client)
                mine = [s for s in states if s.address == address]
                if info.get("cluster_state") != "ok" or not mine or "fail" not in mine[0].flags:
                    return False
                if mine[0].slots or sum(s.slots for s in states) != CLUSTER_SLOTS:
                    return False
            return True
        except redis.RedisError:
            return False

    def wait_for_failover(self, killed: RedisServer, timeout: float = 30.0) -> None:
        """Return once the cluster itself says a replica serves ``killed``'s slots."""
        poll(lambda: self.has_failed_over(killed), timeout, f"a replica to replace {killed.port}")

    def wait_until_whole(self, timeout: float = 30.0) -> None:
        poll(self.is_ready, timeout, "the cluster to be whole (state ok, replicas in sync)")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(
    binary: str,
    root: Path,
    *,
    masters: int = 3,
    replicas: int = 1,
    node_timeout_ms: int = 5000,
) -> ClusterServers:
    """Start and form a cluster of ``masters`` masters with ``replicas`` replicas each."""
    nodes = [
        RedisServer(binary, root / f"node{i}", cluster=True, node_timeout_ms=node_timeout_ms)
        for i in range(masters * (1 + replicas))
    ]
    cluster = ClusterServers(nodes, replicas)
    try:
        for node in nodes:
            node.start()
        cluster.form()
    except BaseException:
        cluster.stop()
        raise
    return cluster


# -- Tornado processes sharing one store ---------------------------------------------


def make_app(store_url: str, store_timeout: float) -> Any:
    """The application each Tornado process serves.

    - ``/w?k=<name>&v=<n>``: sets session key ``<name>`` to ``n`` and counts the
      session's writes in key ``n``; answers the whole session as JSON (so a client
      sees if it ever holds another's data, or if its session started over);
    - ``/r``: the session as JSON, read only;
    - ``/health``: ``ok``, without the session.
    """
    import tornado.web

    from tornado_sessions import SessionMixin, SessionOptions

    class Write(SessionMixin, tornado.web.RequestHandler):
        async def get(self) -> None:
            session = await self.get_session()
            session[self.get_argument("k")] = int(self.get_argument("v"))
            session["n"] = int(session.get("n", 0)) + 1
            self.write({"data": dict(session), "pid": os.getpid()})

    class Read(SessionMixin, tornado.web.RequestHandler):
        async def get(self) -> None:
            session = await self.get_session()
            self.write({"data": dict(session), "pid": os.getpid()})

    class Health(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    options = SessionOptions(
        secret="scale-out-test-secret-" + "x" * 16, store=store_url, store_timeout=store_timeout
    )
    return tornado.web.Application(
        [(r"/w", Write), (r"/r", Read), (r"/health", Health)], sessions=options
    )


async def _serve(port: int, store_url: str, store_timeout: float, open_first: bool) -> None:
    import logging

    from tornado_sessions import close_sessions, open_sessions

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app = make_app(store_url, store_timeout)
    if open_first:
        await open_sessions(app)
    server = app.listen(port, address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()
    await close_sessions(app)


@dataclass
class TornadoProcesses:
    """N Tornado processes on their own loopback ports, all on one store URL.

    Their stderr (logging) is kept in ``workdir/tornado-<i>.log``.
    """

    store_url: str
    count: int
    workdir: Path
    store_timeout: float = 1.0
    #: ``False``: the processes never call ``open_sessions`` (the first request opens).
    open_first: bool = True
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def log(self, index: int) -> str:
        return (self.workdir / f"tornado-{index}.log").read_text(errors="replace")

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            port = free_port()
            with (self.workdir / f"tornado-{index}.log").open("wb") as log:
                process = subprocess.Popen(
                    [
                        sys.executable, "-m", "tornado_sessions_redis.testing", "serve",
                        "--port", str(port), "--store", self.store_url,
                        "--store-timeout", str(self.store_timeout),
                        *([] if self.open_first else ["--no-open"]),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )  # fmt: skip
            self.ports.append(port)
            self.processes.append(process)
        for index, port in enumerate(self.ports):

            def healthy(port: int = port, index: int = index) -> bool:
                return self._healthy(port, index)

            poll(healthy, READY_TIMEOUT, f"Tornado process {index} on port {port}")

    def _healthy(self, port: int, index: int) -> bool:
        if self.processes[index].poll() is not None:
            pytest.fail(f"Tornado process {index} exited:\n{self.log(index)}", pytrace=False)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
                return bool(reply.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        self.ports.clear()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tornado_sessions_redis.testing serve --port P --store URL``."""
    parser = argparse.ArgumentParser(prog="python -m tornado_sessions_redis.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve make_app() until SIGTERM")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--store", required=True)
    serve.add_argument("--store-timeout", type=float, default=1.0)
    serve.add_argument("--no-open", action="store_true", help="do not call open_sessions")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.store, args.store_timeout, not args.no_open))


if __name__ == "__main__":
    main()
