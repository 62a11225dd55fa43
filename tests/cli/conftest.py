"""Fixtures of the command-line tests: the installed console script and real stores.

``run_cli`` runs the ``tornado-sessions`` console script that ``make install`` put
beside the interpreter (a test fails, not skips, when it is missing: the script is
part of what is tested), with its standard input, output and exit code.  Stores
are real: ``memory://`` (which lives in the command's own process, so it is empty)
and a ``redis-server`` started on a free port by the Redis plugin's own harness
(:mod:`tornado_sessions_redis.testing`), each test in a key prefix of its own.
``seed`` writes sessions into a store through the plugin registry, as the
application would store them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tornado_sessions_redis.testing import RedisServer, redis_server_binary

from tornado_sessions import Record, create_store
from tornado_sessions.ids import generate_id, owner_key, store_key
from tornado_sessions.meta import Meta, pack_meta

#: Generous: a test fails on a hung command instead of hanging the suite.
COMMAND_TIMEOUT = 60


def console_script() -> Path:
    script = Path(sys.executable).with_name("tornado-sessions")
    if not script.exists():
        pytest.fail(f"{script} is missing: run 'make install' (setup.py's console_scripts)")
    return script


@dataclass
class Ran:
    """One run of the command line."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


RunCli = Callable[..., Ran]


@pytest.fixture
def cli_script() -> Path:
    """Path of the installed ``tornado-sessions`` script."""
    return console_script()


@pytest.fixture
def run_cli(cli_script: Path) -> RunCli:
    """``run_cli("count", url, stdin="yes\\n", env={...})``: run the installed script."""
    script = cli_script

    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Ran:
        environment = {k: v for k, v in os.environ.items() if k != "TORNADO_SESSIONS_STORE"}
        environment.update(env or {})
        done = subprocess.run(
            [str(script), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=environment,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("cli-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL of the test Redis server with a key prefix no other test uses."""
    return f"{redis_server.url}?prefix=cli:{uuid.uuid4().hex[:12]}:"


Seed = Callable[..., list[str]]


@pytest.fixture
def seed() -> Seed:
    """``seed(url, 3, owner="alice", ttl=60)``: store sessions, return their ids."""

    def write(url: str, how_many: int, *, owner: str | None = None, ttl: float = 600) -> list[str]:
        async def go() -> list[str]:
            store = create_store(url)
            await store.open()
            ids = []
            try:
                now = time.time()
                indexed = owner_key(owner, True) if owner is not None else None
                meta = pack_meta(Meta(created_at=now, owner=indexed))
                for _ in range(how_many):
                    session_id = generate_id()
                    record = Record({"user": b"\xa1x"}, meta, now + ttl, indexed)
                    await store.save(store_key(session_id, True), record)
                    ids.append(session_id)
            finally:
                await store.close()
            return ids

        return asyncio.run(go())

    return write
