"""The benchmark suite on SQLite: ``python -m benchmarks --store sqlite:///...``.

A smoke run (a few seconds) on a database file: every phase answers, the client
floor is measured beside the session routes, and the floor's table is gone
afterwards.  Timings are never checked here.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.smoke import smoke_run_with_floor
from tornado_sessions import create_store

ROOT = Path(__file__).resolve().parents[3]


def test_a_smoke_run_measures_the_store_and_its_client_floor(
    sqlite_path: Path, sqlite_url: str, tmp_path: Path
) -> None:
    smoke_run_with_floor(sqlite_url, tmp_path / "out")
    assert _floor_tables(sqlite_path) == [], "the floor's table was left behind"


def _floor_tables(sqlite_path: Path) -> list[str]:
    with sqlite3.connect(sqlite_path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = [row[0] for row in rows]
    return [name for name in names if "_floor_" in name]


def test_an_interrupted_server_still_drops_its_floor_table(
    sqlite_path: Path, sqlite_url: str
) -> None:
    spec = {"store": sqlite_url, "config": {}, "race_io": 0.001}
    with subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", json.dumps(spec)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            ready = json.loads(server.stdout.readline())
            assert ready["floor"] is True
            assert len(_floor_tables(sqlite_path)) == 1, "the floor's table exists while it serves"
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
    assert _floor_tables(sqlite_path) == [], "an interrupt left the floor's table behind"


def test_a_floor_that_cannot_be_set_up_is_left_out_with_a_warning(
    sqlite_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from benchmarks import server

    class Unwritable(server.SQLiteFloor):
        closed = False

        async def seed(self, fields: dict[str, bytes]) -> None:
            raise PermissionError("permission denied for schema public")

        async def close(self) -> None:
            Unwritable.closed = True

    monkeypatch.setattr(server, "SQLiteFloor", Unwritable)

    async def main() -> object:
        store = create_store(sqlite_url, timeout=2.0)
        await store.open()
        try:
            return await server._seeded_floor(store, "sqlite")
        finally:
            await store.close()

    assert asyncio.run(main()) is None
    assert Unwritable.closed, "a floor that failed half-way is cleaned up"
    assert "no client floor for this store" in capsys.readouterr().err
