"""Test harness: real ``redis-server`` processes for this plugin's tests and other suites.

The plugin's own tests (``tests/conftest.py``) and other suites (the core's
``tests/security``) use it to run a real Redis server: :func:`redis_server_binary`
finds the binary (``redis-server`` on ``PATH``, or ``$REDIS_SERVER``);
:class:`RedisServer` starts it on a free loopback port in a directory of its own,
persistence off (``--save '' --appendonly no``), polls it for readiness (PING; never
a fixed sleep), and stops, pauses, resumes or restarts it on the same port;
:class:`ClusterServers` forms three such servers into a cluster.

If the binary is missing, :func:`unavailable` fails the test when ``$CI`` is set and
skips it, with the reason, elsewhere: a test never passes without its server.

Not imported by the store itself; it needs ``pytest``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import redis

READY_TIMEOUT = 15.0
POLL_INTERVAL = 0.02
CLUSTER_SLOTS = 16384


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Call ``condition`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(POLL_INTERVAL)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> NoReturn:
    """No server for the test: a failure when ``$CI`` is set, a skip (with the reason) elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


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

    def __init__(self, binary: str, workdir: Path, *, cluster: bool = False) -> None:
        self.binary = binary
        self.workdir = workdir
        self.cluster = cluster
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
            "--appendonly", "no",
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
                "--cluster-node-timeout", "5000",
            ]  # fmt: skip
        return args

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


@dataclass
class ClusterServers:
    """Three master nodes that together serve every slot."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        first = self.nodes[0]
        return f"redis+cluster://{first.host}:{first.port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    def form(self) -> None:
        per_node = CLUSTER_SLOTS // len(self.nodes)
        for i, node in enumerate(self.nodes):
            first = i * per_node
            last = CLUSTER_SLOTS - 1 if i == len(self.nodes) - 1 else first + per_node - 1
            with node.admin() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        with self.nodes[0].admin() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", node.host, node.port, node.bus_port)
        poll(self.is_ready, READY_TIMEOUT, "the cluster to agree (cluster_state:ok everywhere)")

    def is_ready(self) -> bool:
        for node in self.nodes:
            with node.admin() as client:
                info = client.execute_command("CLUSTER", "INFO")
            if isinstance(info, bytes):
                info = info.decode()
            fields = dict(line.split(":", 1) for line in str(info).splitlines() if ":" in line)
            if (
                fields.get("cluster_state") != "ok"
                or fields.get("cluster_known_nodes") != str(len(self.nodes))
                or fields.get("cluster_slots_ok") != str(CLUSTER_SLOTS)
            ):
                return False
        return True
