"""Starting, talking to and stopping the two child processes: the server and the load generator.

Both are started with the running interpreter (``sys.executable -m ...``) and the
directory holding this package on ``PYTHONPATH``, so the suite works from any
working directory.  Readiness is a line on the child's stdout, waited for with
:func:`select.select` under a deadline: no sleeping, and a child that dies early
is reported with the end of its log.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from tornado_sessions.options import redact_url

__all__ = ["ChildError", "LoadGeneratorProcess", "ServerProcess", "pick_cpus"]

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


class ChildError(RuntimeError):
    """A child process failed; the message carries what it said."""


def pick_cpus(pin: bool) -> tuple[int | None, int | None]:
    """CPUs for the server and the load generator, or ``None`` when not pinning.

    Pinning needs two CPUs this process may use; the server gets the first.
    """
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env.update(extra or {})
    return env


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text)


def _read_line(
    process: subprocess.Popen[bytes], stream: IO[bytes], timeout: float, log: Path | None, what: str
) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout)
    line = stream.readline() if ready else b""
    if not line:
        process.kill()
        process.wait()
        state = "did not answer in time" if not ready else f"exited with {process.returncode}"
        raise ChildError(f"{what} {state}\n{_tail(log)}")
    return line


class ServerProcess:
    """A benchmark server (:mod:`benchmarks.server`) running one configuration on one store."""

    def __init__(self, spec: dict[str, Any], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=_environment(),
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        what = f"the server for {redact_url(spec['store'])}"
        line = _read_line(self.process, self.process.stdout, START_TIMEOUT, log, what)
        info = json.loads(line)
        self.port: int = info["port"]
        self.pid: int = info["pid"]
        #: Whether the server measures the client floor of its store (``/floor-*``).
        self.floor: bool = bool(info.get("floor"))
        self._http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=START_TIMEOUT)

    def stats(self) -> dict[str, Any]:
        """The server's CPU seconds so far and its store counters."""
        self._http.request("GET", "/_bench/stats")
        response = self._http.getresponse()
        body = response.read()
        if response.status != 200:
            raise ChildError(f"stats answered {response.status}\n{_tail(self.log)}")
        stats: dict[str, Any] = json.loads(body)
        return stats

    def stop(self) -> None:
        """Close stdin (the server then cleans up and exits) and wait for it."""
        self._http.close()
        _close_and_wait(self.process, self._log_file)


class LoadGeneratorProcess:
    """The load generator (:mod:`benchmarks.loadgen`), driven one command at a time."""

    def __init__(self, cpu: int | None, log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        extra = {"BENCH_LOADGEN_CPU": str(cpu)} if cpu is not None else {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=_environment(extra),
            cwd=ROOT,
        )

    def call(self, cmd: str, timeout: float = 600.0, **arguments: Any) -> dict[str, Any]:
        """Send one command and wait (at most ``timeout`` seconds) for its reply."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"cmd": cmd, **arguments}).encode() + b"\n")
        stdin.flush()
        reply: dict[str, Any] = json.loads(
            _read_line(self.process, stdout, timeout, self.log, "the load generator")
        )
        if not reply.pop("ok"):
            raise ChildError(f"load generator: {cmd} failed: {reply['error']}")
        return reply

    def stop(self) -> None:
        """Close stdin (the load generator then exits) and wait for it."""
        _close_and_wait(self.process, self._log_file)


def _close_and_wait(process: subprocess.Popen[bytes], log_file: IO[bytes]) -> None:
    """Close a child's stdin, which tells it to exit; kill it if it does not in time."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log_file.close()
