"""Test harness: real FerretDB servers for this plugin's tests and other suites.

The plugin's own tests (``tests/conftest.py``) and other suites (the core's
``tests/security``) use it to run a real MongoDB-protocol server:
:func:`find_ferretdb` finds a FerretDB binary that runs (``$TORNADO_SESSIONS_FERRETDB``,
``ferretdb`` on ``PATH``, or ``$(go env GOPATH)/bin/ferretdb``; build one with
``scripts/install-ferretdb.sh``); :class:`FerretDB` starts it on a free loopback port
with a temporary SQLite data directory, pings it until it answers (never a fixed
sleep), and stops, pauses, resumes or restarts it on the same port with the same data;
:func:`start_ferretdb` does both.

If no server can be had, :func:`unavailable` fails the test when ``$CI`` is set and
skips it, with the reason, elsewhere: a test never passes without its server.

Not imported by the store itself; it needs ``pytest``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NoReturn

import pymongo
from pymongo.errors import PyMongoError

from tornado_sessions.testing import servers
from tornado_sessions.testing.servers import free_port

ENV_URL = "TORNADO_SESSIONS_MONGO_URL"
ENV_BINARY = "TORNADO_SESSIONS_FERRETDB"
INSTALL_HINT = (
    "build it with plugins/tornado-sessions-mongo/scripts/install-ferretdb.sh "
    f"(or point {ENV_URL} at a MongoDB server)"
)
STARTUP_TIMEOUT = 60.0


def unavailable(reason: str) -> NoReturn:
    """No server: a failure on CI, a skip (with the reason) elsewhere."""
    servers.unavailable(f"no MongoDB-protocol server: {reason}")


def _gopath_bin() -> Path:
    go = shutil.which("go")
    if go is not None:
        try:
            gopath = subprocess.run(
                [go, "env", "GOPATH"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            gopath = ""
        if gopath:
            return Path(gopath.split(os.pathsep)[0]) / "bin"
    return Path.home() / "go" / "bin"


def find_ferretdb() -> str:
    """Path of a FerretDB binary that runs, or :func:`unavailable` saying why there is none."""
    candidates: list[str] = []
    if os.environ.get(ENV_BINARY):
        candidates.append(os.environ[ENV_BINARY])
    on_path = shutil.which("ferretdb")
    if on_path:
        candidates.append(on_path)
    candidates.append(str(_gopath_bin() / "ferretdb"))
    problems: list[str] = []
    for candidate in dict.fromkeys(candidates):
        if not os.path.isfile(candidate):
            problems.append(f"{candidate}: not found")
            continue
        try:
            probe = subprocess.run(
                [candidate, "--version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{candidate}: {exc}")
            continue
        if probe.returncode == 0:
            return candidate
        first_line = ((probe.stderr or probe.stdout).strip().splitlines() or [""])[0]
        problems.append(f"{candidate}: exits with {probe.returncode}: {first_line}")
    unavailable(f"no working FerretDB ({'; '.join(problems)}); {INSTALL_HINT}")


class FerretDB:
    """One FerretDB process on 127.0.0.1, restartable on the same port with the same data."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        #: How many times the server became ready; the port is fixed after the first.
        self.starts = 0

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.workdir / "ferretdb.log"

    def start(self) -> None:
        """Start on a free port the first time, and on the same port after :meth:`stop`."""
        assert self.process is None, "already running"
        attempts = 3 if self.port is None else 1
        for attempt in range(attempts):
            if self.starts == 0:
                self.port = free_port()
            try:
                self._launch()
                return
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _launch(self) -> None:
        data = self.workdir / "data"
        state = self.workdir / "state"
        data.mkdir(exist_ok=True)
        state.mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--handler=sqlite",
                    f"--sqlite-url=file:{data}/",
                    f"--state-dir={state}",
                    f"--listen-addr=127.0.0.1:{self.port}",
                    "--debug-addr=-",
                    "--telemetry=disable",
                    "--log-level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.wait_ready()
        self.starts += 1

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Ping until the server answers; each ping's own wait is the polling interval."""
        deadline = time.monotonic() + timeout
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(
            self.url, serverSelectionTimeoutMS=250, connectTimeoutMS=250, directConnection=True
        ) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"FerretDB exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"FerretDB did not answer a ping within {timeout}s:\n{self.log_tail()}"
                        ) from None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): the kernel still accepts connections, nobody answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen process would not act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_ferretdb(workdir: Path) -> FerretDB:
    """A started FerretDB in ``workdir``, or :func:`unavailable` if it cannot be had."""
    server = FerretDB(find_ferretdb(), workdir)
    try:
        server.start()
    except RuntimeError as exc:
        unavailable(f"FerretDB did not start: {exc}")
    return server
