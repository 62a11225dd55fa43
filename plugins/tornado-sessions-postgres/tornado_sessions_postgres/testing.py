"""Test harness: a real PostgreSQL server for this plugin's tests and other suites.

:func:`postgres_bin_dir` finds Debian's binaries (``$PG_BIN``, else the newest
``/usr/lib/postgresql/*/bin``, else ``pg_config --bindir``).  :class:`PostgresServer`
runs ``initdb`` into a temporary directory of its own and starts ``postgres`` on a
free loopback port (no Unix socket, ``fsync`` off, trust authentication for the
``postgres`` role), polls it for readiness with ``pg_isready`` (never a fixed
sleep), and stops, pauses (``SIGSTOP`` to the postmaster and each of its children,
found in ``/proc``: backends leave the process group), resumes or restarts it on the same port.

PostgreSQL refuses to run as root.  Run as root (as CI and this project's
machines do), the harness runs ``initdb`` and ``postgres`` as the ``postgres``
user Debian's package creates (or ``nobody`` if there is none), through
:class:`subprocess.Popen`'s ``user``/``group`` arguments, in a directory under
the system temporary directory that this user owns.

If the binaries are missing, :func:`unavailable` fails the test when ``$CI`` is
set and skips it, with the reason, elsewhere: a test never passes without its server.

Not imported by the store itself; it needs ``pytest``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tornado_sessions.testing.servers import free_port, poll, unavailable

READY_TIMEOUT = 30.0


def postgres_bin_dir() -> Path:
    """The directory holding ``initdb``, ``postgres`` and ``pg_isready``."""
    candidates: list[str] = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name or 0), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    for candidate in candidates:
        path = Path(candidate)
        if all((path / name).is_file() for name in ("initdb", "postgres", "pg_isready")):
            return path
    unavailable(
        "PostgreSQL server binaries (initdb, postgres) not found: install them "
        "(Debian/Ubuntu: apt-get install postgresql) or set $PG_BIN"
    )


def _run_as() -> dict[str, Any]:
    """``Popen`` keywords that drop root to an unprivileged user (empty when not root)."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    unavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    """One PostgreSQL server on a loopback port, in a data directory of its own."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.port = 0
        self.user = "postgres"
        self.database = "postgres"
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._as = _run_as()
        self.workdir = Path(tempfile.mkdtemp(prefix="tornado-sessions-pg-"))
        if self._as:
            os.chown(self.workdir, self._as["user"], self._as["group"])
        self.datadir = self.workdir / "data"
        self.log = self.workdir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(args, capture_output=True, cwd=self.workdir, **self._as)

    def initdb(self) -> None:
        done = self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.datadir), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr.decode(errors='replace')}", pytrace=False)

    def start(self) -> None:
        if not self.datadir.exists():
            self.initdb()
        if not self.port:
            self.port = free_port()
        log = open(self.log, "ab")  # noqa: SIM115 - the child keeps it open
        try:
            self.process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.datadir),
                    "-p",
                    str(self.port),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=100",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                **self._as,
            )
        finally:
            log.close()
        self.paused = False
        poll(self._ready, READY_TIMEOUT, f"postgres on port {self.port} (log: {self.log})")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(
                f"postgres exited with {self.process.returncode}: "
                + self.log.read_text(errors="replace")[-2000:],
                pytrace=False,
            )
        probe = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port),
             "-U", self.user, "-d", self.database, "-t", "1"],
            capture_output=True,
        )  # fmt: skip
        return probe.returncode == 0

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected); the data stays."""
        process, self.process = self.process, None
        if process is None:
            return
        if self.paused:
            self.resume_group(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self) -> None:
        """Start again on the same port, with the same data."""
        self.start()

    def _processes(self, pid: int) -> list[int]:
        """The postmaster ``pid`` and its children (backends call ``setsid``: no group)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
        return [pid, *children]

    def pause(self) -> None:
        """Freeze the postmaster and every backend: connections hang, nothing answers."""
        assert self.process is not None
        for pid in self._processes(self.process.pid):
            os.kill(pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.resume_group(self.process.pid)

    def resume_group(self, pid: int) -> None:
        for child in reversed(self._processes(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGCONT)
        self.paused = False

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
